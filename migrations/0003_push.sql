CREATE TABLE `app_credentials` (
	`app_id` integer NOT NULL,
	`provider` text NOT NULL,
	`data_enc` text NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	PRIMARY KEY(`app_id`, `provider`),
	FOREIGN KEY (`app_id`) REFERENCES `apps`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `devices` (
	`app_id` integer NOT NULL,
	`device_token` text NOT NULL,
	`platform` text NOT NULL,
	`provider` text NOT NULL,
	`user_id` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	PRIMARY KEY(`app_id`, `device_token`),
	FOREIGN KEY (`app_id`) REFERENCES `apps`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `devices_user_idx` ON `devices` (`app_id`,`user_id`);--> statement-breakpoint
CREATE TABLE `push_rate` (
	`app_id` integer NOT NULL,
	`second` integer NOT NULL,
	`count` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`app_id`, `second`)
);
--> statement-breakpoint
CREATE TABLE `task_targets` (
	`task_id` text NOT NULL,
	`channel` text NOT NULL,
	`target` text NOT NULL,
	`status` text NOT NULL,
	`reason` text,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	PRIMARY KEY(`task_id`, `channel`, `target`),
	FOREIGN KEY (`task_id`) REFERENCES `tasks`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `task_targets_status_idx` ON `task_targets` (`task_id`,`status`);--> statement-breakpoint
CREATE TABLE `tasks` (
	`id` text PRIMARY KEY NOT NULL,
	`app_id` integer NOT NULL,
	`kind` text NOT NULL,
	`type` text NOT NULL,
	`status` text NOT NULL,
	`request` text NOT NULL,
	`production_mode` integer DEFAULT true NOT NULL,
	`start_at` integer,
	`expire_at` integer,
	`out_biz_no` text,
	`total` integer DEFAULT 0 NOT NULL,
	`sent` integer DEFAULT 0 NOT NULL,
	`delivered` integer DEFAULT 0 NOT NULL,
	`failed` integer DEFAULT 0 NOT NULL,
	`by_mqtt` integer DEFAULT 0 NOT NULL,
	`by_apns` integer DEFAULT 0 NOT NULL,
	`by_getui` integer DEFAULT 0 NOT NULL,
	`by_fcm` integer DEFAULT 0 NOT NULL,
	`pending_batches` integer DEFAULT 0 NOT NULL,
	`expanded` integer DEFAULT false NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`app_id`) REFERENCES `apps`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tasks_out_biz_no_idx` ON `tasks` (`app_id`,`out_biz_no`);--> statement-breakpoint
CREATE INDEX `tasks_app_created_idx` ON `tasks` (`app_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `test_devices` (
	`app_id` integer NOT NULL,
	`device_token` text NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	PRIMARY KEY(`app_id`, `device_token`),
	FOREIGN KEY (`app_id`) REFERENCES `apps`(`id`) ON UPDATE no action ON DELETE cascade
);
