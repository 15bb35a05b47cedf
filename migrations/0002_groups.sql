CREATE TABLE `group_members` (
	`app_id` integer NOT NULL,
	`group_id` text NOT NULL,
	`user_id` text NOT NULL,
	`added_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	PRIMARY KEY(`app_id`, `group_id`, `user_id`)
);
--> statement-breakpoint
CREATE INDEX `group_members_user_idx` ON `group_members` (`app_id`,`user_id`);--> statement-breakpoint
CREATE TABLE `groups` (
	`app_id` integer NOT NULL,
	`group_id` text NOT NULL,
	`name` text,
	`parent_id` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	PRIMARY KEY(`app_id`, `group_id`),
	FOREIGN KEY (`app_id`) REFERENCES `apps`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `groups_parent_idx` ON `groups` (`app_id`,`parent_id`);