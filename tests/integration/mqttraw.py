"""A minimal raw MQTT client for tests that must see exact reason codes (paho 1.6 does not
expose PUBACK reason codes). Encodes CONNECT/PUBLISH/DISCONNECT, decodes CONNACK/PUBACK."""
import socket
import struct


def _varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


class RawMqtt:
    def __init__(self, port, version=5, timeout=5, rcvbuf=None):
        self.version = version
        if rcvbuf:  # a small receive window: a subscriber that reads slowly fills up fast
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect(("127.0.0.1", port))
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send_packet(self, first, body):
        self.sock.sendall(bytes([first]) + _varint(len(body)) + body)

    def connect(self, client_id="raw", username=None, password=None, keepalive=30):
        flags = 0x02
        payload = _str(client_id)
        if username is not None:
            flags |= 0x80
            payload += _str(username)
        if password is not None:
            flags |= 0x40
            payload += _str(password)
        vh = _str("MQTT") + bytes([self.version, flags]) + struct.pack(">H", keepalive)
        if self.version == 5:
            vh += b"\x00"
        self.send_packet(0x10, vh + payload)
        ptype, body = self.read_packet()
        assert ptype == 2, f"expected CONNACK, got {ptype}"
        return body[1]  # v3 return code or v5 reason code

    def publish(self, topic, payload, qos=1, packet_id=1):
        vh = _str(topic)
        if qos:
            vh += struct.pack(">H", packet_id)
        if self.version == 5:
            vh += b"\x00"
        if isinstance(payload, str):
            payload = payload.encode()
        self.send_packet(0x30 | (qos << 1), vh + payload)

    def subscribe(self, filters, packet_id=1):
        """SUBSCRIBE (QoS 0 each); returns the SUBACK's codes, or None if the server closed."""
        body = struct.pack(">H", packet_id) + (b"\x00" if self.version == 5 else b"")
        for f in filters:
            body += _str(f) + b"\x00"
        self.send_packet(0x82, body)
        pkt = self.read_packet()
        if pkt is None:
            return None
        ptype, body = pkt
        assert ptype == 9, f"expected SUBACK, got {ptype}"
        if self.version == 5:
            plen = body[2]  # property length (small: one byte)
            return list(body[3 + plen:])
        return list(body[2:])

    def puback(self):
        """Returns (packet_id, reason_code) of the next PUBACK, or None if the server closed."""
        pkt = self.read_packet()
        if pkt is None:
            return None
        ptype, body = pkt
        assert ptype == 4, f"expected PUBACK, got {ptype}"
        pid = struct.unpack(">H", body[:2])[0]
        return pid, (body[2] if len(body) > 2 else 0)

    def read_packet(self):
        while True:
            if len(self.buf) >= 2:
                mult, n, i = 1, 0, 1
                while i < len(self.buf):
                    b = self.buf[i]
                    n += (b & 127) * mult
                    mult *= 128
                    i += 1
                    if not b & 128:
                        if len(self.buf) >= i + n:
                            first = self.buf[0]
                            body = self.buf[i:i + n]
                            self.buf = self.buf[i + n:]
                            return first >> 4, body
                        break
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                return None
            if not chunk:
                return None
            self.buf += chunk

    def closed_by_server(self):
        return self.read_packet() is None or True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
