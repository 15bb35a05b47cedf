CREATE TABLE `invitations` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`order_id` integer NOT NULL,
	`owner_id` integer NOT NULL,
	`partner_id` integer NOT NULL,
	`status` text DEFAULT 'PENDING' NOT NULL,
	`create_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`answered_at` integer,
	FOREIGN KEY (`order_id`) REFERENCES `orders`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `invitations_partner_idx` ON `invitations` (`partner_id`);--> statement-breakpoint
CREATE TABLE `orders` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`order_num` text NOT NULL,
	`order_type` integer DEFAULT 0 NOT NULL,
	`photo` text,
	`order_time` integer,
	`add_time` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`creator_type` integer DEFAULT 0 NOT NULL,
	`creator_id` integer DEFAULT 0 NOT NULL,
	`creator_name` text,
	`contact_phone` text,
	`position_lon` real,
	`position_lat` real,
	`remark` text,
	`main_tech_id` integer DEFAULT 0 NOT NULL,
	`second_tech_id` integer DEFAULT 0 NOT NULL,
	`status` text DEFAULT 'NEWLY_CREATED' NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `orders_order_num_unique` ON `orders` (`order_num`);--> statement-breakpoint
CREATE INDEX `orders_open_idx` ON `orders` (`status`,`main_tech_id`);--> statement-breakpoint
CREATE INDEX `orders_main_idx` ON `orders` (`main_tech_id`);