"""An independent Noise XX peer for the interop tests, built on the `noiseprotocol` package.

Speaks libp2p-noise over stdin/stdout, or over TCP when given an address: every Noise message is
framed with a 2-byte big-endian length. Usage: noise_peer.py initiator|responder [HOST PORT]
(with HOST PORT it dials that TCP listener). It prints its Ed25519 public key (hex) on stderr
as its first line, completes the handshake, checks the Swift side's identity payload, then echoes
one transport message back prefixed with b"echo:" and sends b"from python". Exits non-zero on any
failure.
"""
import socket
import struct
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from noise.connection import Keypair, NoiseConnection

PREFIX = b"noise-libp2p-static-key:"
RAW = serialization.Encoding.Raw


STREAM = {"read": lambda n: sys.stdin.buffer.read(n), "write": None}


def read_exact(n):
    data = b""
    while len(data) < n:
        chunk = STREAM["read"](n - len(data))
        if not chunk:
            raise SystemExit("unexpected end of input")
        data += chunk
    return data


def read_frame():
    (length,) = struct.unpack(">H", read_exact(2))
    return read_exact(length)


def write_frame(message):
    data = struct.pack(">H", len(message)) + bytes(message)
    if STREAM["write"]:
        STREAM["write"](data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def field(number, value):
    return bytes([number << 3 | 2]) + varint(len(value)) + value


def parse_payload(data):
    fields, i = {}, 0
    while i < len(data):
        tag = data[i]
        i += 1
        length, shift = 0, 0
        while True:
            b = data[i]
            i += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        fields[tag >> 3] = data[i : i + length]
        i += length
    return fields


def main():
    role = sys.argv[1]
    if len(sys.argv) == 4:
        sock = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=20)
        STREAM["read"] = sock.recv
        STREAM["write"] = sock.sendall
    identity = Ed25519PrivateKey.generate()
    identity_public = identity.public_key().public_bytes(RAW, serialization.PublicFormat.Raw)
    static = X25519PrivateKey.generate()
    static_public = static.public_key().public_bytes(RAW, serialization.PublicFormat.Raw)
    static_private = static.private_bytes(RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    sys.stderr.write(identity_public.hex() + "\n")
    sys.stderr.flush()

    payload = field(1, b"\x08\x01\x12\x20" + identity_public) + field(2, identity.sign(PREFIX + static_public))

    conn = NoiseConnection.from_name(b"Noise_XX_25519_ChaChaPoly_SHA256")
    conn.set_keypair_from_private_bytes(Keypair.STATIC, static_private)
    # The library drops its handshake state when the handshake ends; keep the remote static key.
    captured = {}
    protocol = conn.noise_protocol
    original_done = protocol.handshake_done

    def done():
        captured["rs"] = protocol.handshake_state.rs.public_bytes
        original_done()

    protocol.handshake_done = done

    if role == "initiator":
        conn.set_as_initiator()
        conn.start_handshake()
        write_frame(conn.write_message(b""))
        remote_payload = conn.read_message(read_frame())
        captured["rs"] = protocol.handshake_state.rs.public_bytes
        write_frame(conn.write_message(payload))
    else:
        conn.set_as_responder()
        conn.start_handshake()
        conn.read_message(read_frame())
        write_frame(conn.write_message(payload))
        remote_payload = conn.read_message(read_frame())
    assert conn.handshake_finished

    fields = parse_payload(bytes(remote_payload))
    key = fields[1]
    if key[:4] != b"\x08\x01\x12\x20" or len(key) != 36:
        raise SystemExit("remote identity is not an Ed25519 libp2p key")
    Ed25519PublicKey.from_public_bytes(key[4:]).verify(fields[2], PREFIX + captured["rs"])

    message = conn.decrypt(read_frame())
    write_frame(conn.encrypt(b"echo:" + message))
    write_frame(conn.encrypt(b"from python"))
    sys.stderr.write("ok " + key[4:].hex() + "\n")


if __name__ == "__main__":
    main()
