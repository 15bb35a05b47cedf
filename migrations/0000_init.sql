CREATE TABLE `apps` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`appkey` text NOT NULL,
	`master_secret_enc` text,
	`enabled` integer DEFAULT true NOT NULL,
	`legacy_token` integer DEFAULT true NOT NULL,
	`ios_payload_limit` integer DEFAULT 4096 NOT NULL,
	`android_payload_limit` integer DEFAULT 4096 NOT NULL,
	`push_rate_limit` integer DEFAULT 100 NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `apps_name_unique` ON `apps` (`name`);--> statement-breakpoint
CREATE UNIQUE INDEX `apps_appkey_unique` ON `apps` (`appkey`);--> statement-breakpoint
CREATE TABLE `sms_codes` (
	`phone` text PRIMARY KEY NOT NULL,
	`code` text NOT NULL,
	`sent_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`tries` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `technician_locations` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`technician_id` integer NOT NULL,
	`lng` real NOT NULL,
	`lat` real NOT NULL,
	`province` text NOT NULL,
	`city` text NOT NULL,
	`district` text,
	`street` text,
	`street_number` text,
	`reported_at` integer NOT NULL,
	FOREIGN KEY (`technician_id`) REFERENCES `technicians`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `technician_locations_tech_time_idx` ON `technician_locations` (`technician_id`,`reported_at`);--> statement-breakpoint
CREATE TABLE `technician_sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`technician_id` integer NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`expires_at` integer NOT NULL,
	FOREIGN KEY (`technician_id`) REFERENCES `technicians`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `technician_sessions_tech_idx` ON `technician_sessions` (`technician_id`);--> statement-breakpoint
CREATE TABLE `technicians` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`phone` text NOT NULL,
	`password_hash` text NOT NULL,
	`name` text,
	`gender` text,
	`avatar` text,
	`id_no` text,
	`id_photo` text,
	`bank` text,
	`bank_address` text,
	`bank_card_no` text,
	`verify_at` integer,
	`request_verify_at` integer,
	`verify_msg` text,
	`last_login_at` integer,
	`last_login_ip` text,
	`create_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`skill` text,
	`push_id` text,
	`reference` text,
	`film_level` integer DEFAULT 0 NOT NULL,
	`film_working_seniority` integer DEFAULT 0 NOT NULL,
	`car_cover_level` integer DEFAULT 0 NOT NULL,
	`car_cover_working_seniority` integer DEFAULT 0 NOT NULL,
	`color_modify_level` integer DEFAULT 0 NOT NULL,
	`color_modify_working_seniority` integer DEFAULT 0 NOT NULL,
	`beauty_level` integer DEFAULT 0 NOT NULL,
	`beauty_working_seniority` integer DEFAULT 0 NOT NULL,
	`resume` text,
	`star` integer DEFAULT 0 NOT NULL,
	`vote_rate` integer DEFAULT 0 NOT NULL,
	`status` text DEFAULT 'NEWLY_CREATED' NOT NULL,
	`failed_logins` integer DEFAULT 0 NOT NULL,
	`locked_until` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `technicians_phone_unique` ON `technicians` (`phone`);--> statement-breakpoint
CREATE INDEX `technicians_name_idx` ON `technicians` (`name`);--> statement-breakpoint
CREATE INDEX `technicians_status_idx` ON `technicians` (`status`);