# SETUP: the device side of the provisioning protocol on the USB console.
# docs/provisioning.md describes the frames and commands.
