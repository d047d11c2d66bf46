"""behindglass.site: the agent a site runs inside its own walls. It only opens outbound
connections to the hub, runs the site's own catalog of analyses, and releases only what
its disclosure policy allows."""

from behindglass.site.agent import SiteAgent
from behindglass.site.execute import Execution, check_disclosable, execute_task

__all__ = ["Execution", "SiteAgent", "check_disclosable", "execute_task"]
