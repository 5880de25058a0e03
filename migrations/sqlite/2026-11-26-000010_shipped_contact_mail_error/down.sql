ALTER TABLE contacts DROP COLUMN mail_error;
