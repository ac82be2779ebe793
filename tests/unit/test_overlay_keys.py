"""WireGuard keys in pure Python: X25519 against RFC 7748's test vectors, and the key file's mode."""

from __future__ import annotations

import base64
import os
import stat

from cni.plugins.overlay import keys


def test_rfc7748_vectors():
    # section 5.2, the two single-call vectors (the second checked with `openssl pkeyutl -derive` too)
    assert keys.x25519(bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
                       bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")) \
        == bytes.fromhex("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
    assert keys.x25519(bytes.fromhex("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
                       bytes.fromhex("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493")) \
        == bytes.fromhex("95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957")


def test_rfc7748_diffie_hellman():
    # section 6.1: Alice's and Bob's public keys and their shared secret
    alice = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    bob = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    nine = (9).to_bytes(32, "little")
    alice_public, bob_public = keys.x25519(alice, nine), keys.x25519(bob, nine)
    assert alice_public.hex() == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    assert bob_public.hex() == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    assert keys.x25519(alice, bob_public).hex() == keys.x25519(bob, alice_public).hex() == shared


def test_host_key_is_made_once_private_to_root_and_rotated_whole(tmp_path):
    path = str(tmp_path / "wg.key")
    private, public = keys.host_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keys.host_key(path) == (private, public)  # the same pair the next time
    assert len(base64.b64decode(private)) == len(base64.b64decode(public)) == 32
    assert base64.b64decode(private)[0] & 7 == 0  # clamped, as wg genkey writes it
    rotated = keys.rotate(path)
    assert rotated != (private, public) and keys.host_key(path) == rotated
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and os.listdir(tmp_path) == ["wg.key"]
