"""Is a host this machine only?  Loopback servers get quieter notices and loopback ICE.
And which "address" a client counts as for the per-address caps and the login throttle."""

from __future__ import annotations

import ipaddress

__all__ = ["address_key", "is_loopback"]

# An IPv6 host is routinely given a whole /64 (SLAAC, privacy addresses): per-address
# limits keyed by the full address would let one machine take 2**64 fresh ones.
_IPV6_CLIENT_PREFIX = 64


def is_loopback(host: str) -> bool:
    """True for "localhost" and loopback IPs (127.0.0.0/8, ::1); False for names and others."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def address_key(host: str) -> str:
    """The key a client's caps and throttle are kept under: an IPv4 address as is (an
    IPv4-mapped IPv6 one unmapped), an IPv6 address as its /64 network."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, _IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)
