import secrets


def new_id(prefix: str) -> str:
    """OpenAI-style ids: resp_…, msg_…, fc_…, call_…"""
    return f"{prefix}_{secrets.token_hex(24)}"
