"""SMS beside the calls: messages from templates, the Kannel gateway, delivery reports, replies."""
