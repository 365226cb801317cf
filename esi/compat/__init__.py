"""The django-esi 10 surface, in one place: code written for django-esi 10 runs unchanged.

Nothing in the core (``esi.client``, ``esi.sso``, ``esi.models``, ``esi_tasks``...) imports this
package; the old module paths are thin doors into it::

    old path (django-esi 10)            lives here                    replacement
    esi.errors.*                        esi.compat.errors             esi.exceptions
    esi.exceptions.HTTPClientError...   esi.compat.errors             esi.exceptions.Esi*Error
    esi.openapi_clients                 esi.compat.openapi_clients    esi.client.get_client
    esi.decorators.rate_limit_retry_task, wait_for_esi_errorlimit_reset, _check_callback
                                        esi.compat.decorators         esi_tasks / esi.sso
    esi.tasks (beat task names)         esi.compat.tasks              esi_tasks.tasks
    esi.stubs (type names)              esi.compat.stubs              plain dict/list JSON

Names kept only for compatibility warn once per process with a ``DeprecationWarning`` naming
their replacement (:func:`esi.compat._deprecation.legacy_getattr`). The django-esi 10 migration
names (``esi.0001_initial`` ... ``esi.0013_squashed_0012_fix_token_type_choices``) are kept in
``esi/migrations``, where Django needs them.
"""
