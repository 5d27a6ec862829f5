{
  "targets": [
    { "target_name": "cloexec", "sources": ["cloexec.c"] }
  ]
}
