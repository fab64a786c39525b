"""Protocol layer: AMI, FastAGI, and the local Asterisk rootfs. Knows nothing of surveys."""
