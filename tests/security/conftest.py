from tests.sso.fixtures import make_token, sso  # noqa: F401
