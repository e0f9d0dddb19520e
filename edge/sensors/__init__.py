"""Sensors: MQTT (zigbee2mqtt, generic JSON) and Modbus TCP readings, and their alert rules."""
