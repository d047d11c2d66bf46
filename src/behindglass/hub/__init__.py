"""behindglass.hub: the network coordinator. It relays studies to sites and combines what
they release; it never imports anything that can read patient rows."""

from behindglass.hub.app import create_app
from behindglass.hub.server import HubServer
from behindglass.hub.state import HubState

__all__ = ["HubServer", "HubState", "create_app"]
