"""News for staff (issue 17, part 7): announcements with a publish window, targeted at offices and roles, read
receipts. `store` is the only reader and writer of the news tables; `render` makes a body's safe HTML."""
