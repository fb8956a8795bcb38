"""Fake CRMs on 127.0.0.1: the OAuth authorize (consent) and token endpoints of Salesforce,
HubSpot, Pipedrive, Zoho and Dynamics 365, as their documentation describes them (`crms`)."""

from .crms import PROVIDERS, FakeCrmError, FakeCrms, press_consent

__all__ = ["PROVIDERS", "FakeCrmError", "FakeCrms", "press_consent"]
