"""Every limit a workflow definition must stay within, named, in one place.

They bound what one tenant can make the API store, the matcher evaluate and the executor render,
so that no definition — careless or hostile — costs more than a known amount. Every reader
validates with the same model (database rows, changelog records, execution requests), so a
lowered limit makes stored definitions beyond it unreadable: lower one only with a migration.
"""

from __future__ import annotations

from datetime import timedelta

# The definition itself
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 2000
MAX_ACTIONS = 50

# Conditions (workflow-level and each action's "only if")
MAX_CONDITION_DEPTH = 5
"""Nesting levels of condition groups, the outermost group counting as one."""
MAX_CONDITION_NODES = 100
"""Rules and groups in one condition tree."""
MAX_FIELD_PATH_LENGTH = 200
MAX_FIELD_PATH_SEGMENTS = 10
MAX_CONDITION_STRING_LENGTH = 1000
"""A string a rule compares with (one item of an ``in`` list included)."""
MAX_IN_LIST = 1000

# Templates
MAX_TEMPLATE_LENGTH = 10_000
MAX_TEMPLATE_IF_DEPTH = 5
"""Nesting levels of ``{{#if}}`` blocks in one template."""
MAX_RENDERED_LENGTH = 1_000_000
"""Characters one rendering may produce; the rest is cut off (variables can be long)."""
MAX_DATE_OFFSET_DAYS = 3660
"""How far ``+N days`` / ``-N weeks`` may reach: ten years."""

# Actions
MAX_RECIPIENTS = 50
MAX_EMAIL_LENGTH = 254
MAX_TITLE_LENGTH = 500
MAX_IDENTIFIER_LENGTH = 100
"""Template names, object and record type names, field names, tags, user references."""
MAX_HEADERS = 20
MAX_HEADER_VALUE_LENGTH = 2000
MAX_URL_LENGTH = 2048
MAX_MAPPING_FIELDS = 100
MAX_TASKS_IN_SERIES = 50
MAX_TAGS = 50
MAX_API_BODY_LENGTH = 65_536
"""A ``call_api`` body, measured as compact JSON."""
MAX_DELAY = timedelta(days=365)
MAX_OFFER_DURATION_MONTHS = 120

# Settings and error handling
MAX_EXECUTIONS_PER_HOUR = 1_000_000
MAX_RETRY_COUNT = 10
DEFAULT_RETRY_COUNT = 3
"""Retries of a failed step when ``onError`` is ``retry`` and ``retryCount`` is not given."""
