ALTER TABLE `technicians` ADD `banned` integer DEFAULT false NOT NULL;--> statement-breakpoint
-- Accounts banned through the status column before the flag existed: banned, status reset.
UPDATE `technicians` SET `banned` = 1, `status` = 'NEWLY_CREATED' WHERE `status` = 'BANNED';
