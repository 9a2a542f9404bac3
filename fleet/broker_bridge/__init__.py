"""MQTT side of the fleet: the bridge (ingest + signed publish), topics, wire
formats, the embedded amqtt broker, the mosquitto 2 config generator and a
lightweight gate simulator (docs/fleet.md, docs/protocol.md)."""
