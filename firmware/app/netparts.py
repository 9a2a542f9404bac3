# Builds the outbox (flash), the MQTT client and the scan reporter.
# Boot only: main.py unloads this module after build() (nothing built here
# refers back to it: no closures).
def build(port, cfg, plane, clock, on_connect=None):
    from store.outbox import Outbox
    from net.client import MQTTClient
    from net.reporter import Reporter, last_will
    from app.netservice import parse_broker

    device_id = cfg["device_id"]
    outbox = Outbox(port.flash_dir() + "/outbox")
    host, mqtt_port, tls = parse_broker(cfg.get("broker", {}).get("url", ""))
    ssl = None
    if tls:
        from net.client import tls_context

        ssl = tls_context(cfg["broker"].get("ca"))
    client = MQTTClient(device_id, host, mqtt_port, user=cfg["broker"].get("user"),
                        password=cfg["broker"].get("password"), will=last_will(device_id),
                        ssl=ssl, server_hostname=host if tls else None)
    reporter = Reporter(client, outbox, device_id, state_provider=plane.state_fields,
                        now=clock.now, fleet_ack_ms=cfg["fleet_ack_ms"])
    reporter.after_connect = on_connect  # e.g. the idle screen's online mark
    client.connect_cb = reporter.on_connect  # re-asserts the "online" state
    return client, reporter
