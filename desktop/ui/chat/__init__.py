"""The Chat tab: chatting, comparing two models, evaluating them on examples."""
