# Builds the outbox (flash), the MQTT client and the scan reporter.
def build(port, cfg, plane, clock):
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
                        now=clock.now)
    client.connect_cb = reporter.on_connect
    return client, reporter
