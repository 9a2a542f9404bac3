# Runs only the SETUP service of the firmware on a console pty (for the
# provisioning tests): GG_FLASH_DIR, GG_CONSOLE_PTY, GG_CHIP_ID from the env.
import asyncio
import sys

from hal import port as get_port
from setup import start


def main():
    port = get_port()
    svc = start.build(port, {})

    async def run():
        await svc.run()

    try:
        asyncio.run(run())
    except SystemExit:
        raise


main()
