-- The built-in app `technician` (CONTRACT §0): seeds 000/001 run as this tenant.
-- Its master secret is issued later with POST /api/admin/apps/technician-appkey/secret.
INSERT INTO `apps` (`name`, `appkey`) VALUES ('technician', lower(hex(randomblob(12))));
