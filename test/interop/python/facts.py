"""What libvirt-python says about a connection, as one JSON object, for the typed-procedure interop tests.

usage: facts.py URI [DOMAIN]
"""
import json
import sys

import libvirt

uri = sys.argv[1]
name = sys.argv[2] if len(sys.argv) > 2 else "test"
conn = libvirt.open(uri)
dom = conn.lookupByName(name)
info = dom.info()
facts = {
    "hostname": conn.getHostname(),
    "type": conn.getType(),
    "version": conn.getVersion(),
    "libVersion": conn.getLibVersion(),
    "uri": conn.getURI(),
    "secure": conn.isSecure(),
    "capabilities": conn.getCapabilities(),
    "nodeInfo": conn.getInfo(),
    "numOfDomains": conn.numOfDomains(),
    "domains": sorted([[d.name(), d.UUIDString(), d.ID()] for d in conn.listAllDomains(0)]),
    "activeDomains": sorted([d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)]),
    "networks": sorted([[n.name(), n.UUIDString()] for n in conn.listAllNetworks(0)]),
    "pools": sorted([[p.name(), p.UUIDString()] for p in conn.listAllStoragePools(0)]),
    "domain": {
        "uuid": dom.UUIDString(),
        "id": dom.ID(),
        "info": [info[0], info[1], info[2], info[3]],
        "state": dom.state(),
        "xml": dom.XMLDesc(0),
        "active": dom.isActive(),
        "persistent": dom.isPersistent(),
    },
}
print(json.dumps(facts))
conn.close()
