"""Qt-free, network-free core: datasets, formats, validation, tokens, pricing and estimates."""
