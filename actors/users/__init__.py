"""The users domain: who works for which office. Only reads so far; their administration is issue 17's."""
