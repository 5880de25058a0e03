-- Why the last scheduled mail to this contact could not be queued (an address the mail system
-- does not accept); cleared when mail to the hospital goes out again.
ALTER TABLE contacts ADD COLUMN mail_error TEXT;
