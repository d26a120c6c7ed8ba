#ifndef SWIFT_THREADS_CLEVELDB_READ_ENV_H
#define SWIFT_THREADS_CLEVELDB_READ_ENV_H

#ifdef __cplusplus
extern "C" {
#endif

/// LevelDB's default environment, except for how table files are read. Like LevelDB's own,
/// it maps them and answers small reads from the mapping, without a copy. A read of a large block
/// (a block that holds a large value, such as a file's chunk) goes through pread(2) instead: such
/// blocks are read once or twice, and a mapped page, once touched, stays in the process's resident
/// memory for as long as the table is open. With LevelDB's plain mapping, a node that stored a
/// large file showed a resident size that grew with the file.
///
/// Returns a `leveldb_env_t *` (as `void *`, so this header does not depend on LevelDB's) for
/// `leveldb_options_set_env`. It lives as long as the process: never pass it to
/// `leveldb_env_destroy`. Returns NULL when the library's C API wraps its Env differently from the
/// layout this code knows (then LevelDB's own environment is the one to use).
void *threads_leveldb_read_env(void);

/// Reads of at least this many bytes go through pread(2).
extern const unsigned long threads_leveldb_large_read;

#ifdef __cplusplus
}
#endif

#endif
