"""The site API: its tables, functions, REST APIs, user pool, firewall, query workgroup and events."""
