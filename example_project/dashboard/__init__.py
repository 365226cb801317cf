"""The example project's dashboard: SSO login link, tokens, ESI status, recent fetches, limits."""
