"""Search attributes the service keeps current on every job (Keyword; never PII)."""

from temporalio.common import SearchAttributeKey

TENANT_ID = SearchAttributeKey.for_keyword("TenantId")
JOB_STATUS = SearchAttributeKey.for_keyword("JobStatus")
BASE_MODEL = SearchAttributeKey.for_keyword("BaseModel")
PROVIDER = SearchAttributeKey.for_keyword("Provider")
FINE_TUNED_MODEL = SearchAttributeKey.for_keyword("FineTunedModel")

ALL_KEYS = (TENANT_ID, JOB_STATUS, BASE_MODEL, PROVIDER, FINE_TUNED_MODEL)
