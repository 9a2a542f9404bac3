# MicroPython driver for gate I/O tests (hal.unix fakes log to GG_EVENT_FILE).
#   relay            pulse / extend / pulse again; accept + deny outputs; a deny
#                    that cuts an accept short
#   button <ms> <n>  exit button on GG_INPUT_DIR/exit_button for <ms>, occupancy starts at n
#   debounce         stdin: JSON list of [raw, now_ms]; prints presses
import sys
import json
import asyncio


async def relay_main():
    from hal import port
    from gate.io import Relay, Buzzer, Leds, GateIO

    p = port()
    relay = Relay(p.pin_out("relay", 33), pulse_ms=150)
    gate = GateIO(relay, Buzzer(p.pwm("buzzer", 27)),
                  Leds(p.pin_out("led_green", 13), p.pin_out("led_red", 14)))
    p.event("mark", {"step": "pulse"})
    relay.pulse()
    await asyncio.sleep_ms(50)
    p.event("mark", {"step": "extend"})
    relay.pulse(300)  # while open: stays open 300 ms from now
    await asyncio.sleep_ms(500)
    p.event("mark", {"step": "accept"})
    gate.accept()
    await asyncio.sleep_ms(400)
    p.event("mark", {"step": "deny"})
    gate.deny()
    await asyncio.sleep_ms(2500)
    p.event("mark", {"step": "accept2"})
    gate.accept()
    await asyncio.sleep_ms(50)  # the next scan, a refusal, while the beep and LED are on
    p.event("mark", {"step": "deny2"})
    gate.deny()
    await asyncio.sleep_ms(2500)
    print(json.dumps({"pulses": relay.pulses,
                      "held": [gate.buzzer._task is not None, gate.leds._task is not None]}))


async def button_main(ms, start):
    from hal import port
    from gate.io import ExitButton
    from gate.occupancy import Occupancy

    p = port()
    occ = Occupancy(start)
    button = ExitButton(p.pin_in("exit_button", 35), occ.exit, debounce_ms=40)
    task = asyncio.create_task(button.run())
    print("READY")
    await asyncio.sleep_ms(ms)
    task.cancel()
    print(json.dumps({"presses": button.presses, "inside": occ.inside, "exits": occ.exits}))


def debounce_main():
    from gate.io import ExitButton

    presses = []
    b = ExitButton(None, lambda: presses.append(1), debounce_ms=50)
    samples = json.loads(sys.stdin.read())
    raw, now = samples[0]
    state = (raw, raw, now)
    for raw, now in samples[1:]:
        state = b.step(state, raw, now)
    print(json.dumps({"presses": b.presses}))


mode = sys.argv[1]
if mode == "relay":
    asyncio.run(relay_main())
elif mode == "button":
    asyncio.run(button_main(int(sys.argv[2]), int(sys.argv[3])))
else:
    debounce_main()
