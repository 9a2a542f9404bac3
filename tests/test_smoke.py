from mpy import run_micropython


def test_reason_names_round_trip_under_micropython():
    r = run_micropython(
        "from verify import reasons\n"
        "for c in list(range(30)) + list(range(40, 47)):\n"
        "    assert reasons.code(reasons.name(c)) == c, c\n"
        "print(reasons.name(99), reasons.code('NOPE'))\n"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ["UNKNOWN", "-1"]


def test_mosquitto_fixture_accepts_connections(mosquitto_broker):
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.connect("127.0.0.1", mosquitto_broker.port)
    c.disconnect()
