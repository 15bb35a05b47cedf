DROP TABLE `task_targets`;--> statement-breakpoint
ALTER TABLE `apps` ADD `embed_msg_id` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `apps` ADD `callback_url` text;--> statement-breakpoint
ALTER TABLE `tasks` DROP COLUMN `total`;--> statement-breakpoint
ALTER TABLE `tasks` DROP COLUMN `sent`;--> statement-breakpoint
ALTER TABLE `tasks` DROP COLUMN `delivered`;--> statement-breakpoint
ALTER TABLE `tasks` DROP COLUMN `failed`;--> statement-breakpoint
ALTER TABLE `tasks` DROP COLUMN `by_mqtt`;--> statement-breakpoint
ALTER TABLE `tasks` DROP COLUMN `by_apns`;--> statement-breakpoint
ALTER TABLE `tasks` DROP COLUMN `by_getui`;--> statement-breakpoint
ALTER TABLE `tasks` DROP COLUMN `by_fcm`;--> statement-breakpoint
ALTER TABLE `tasks` DROP COLUMN `pending_batches`;--> statement-breakpoint
ALTER TABLE `tasks` DROP COLUMN `expanded`;