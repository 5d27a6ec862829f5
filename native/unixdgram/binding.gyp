{
  "targets": [
    { "target_name": "unixdgram", "sources": ["unixdgram.c"] }
  ]
}
