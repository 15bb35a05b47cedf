ALTER TABLE `apps` ADD `embed_msg_id` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `apps` ADD `callback_url` text;