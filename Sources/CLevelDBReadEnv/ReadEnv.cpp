// LevelDB's environment with table files mapped for small reads and read with pread(2) for large
// ones (see CLevelDBReadEnv.h for why).
//
// Everything but NewRandomAccessFile goes to LevelDB's default (POSIX) environment. As in
// LevelDB's own, the number of mapped files and of descriptors held open are capped: past the
// caps, a file is read with pread, opening it for each read.

#include "CLevelDBReadEnv.h"

#include <leveldb/c.h>
#include <leveldb/env.h>
#include <leveldb/status.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

// The C API's wrapper of an Env, as LevelDB's c.cc defines it (unchanged since the C API was
// added): the C++ object, and whether leveldb_env_destroy must leave it alone.
struct leveldb_env_t {
    leveldb::Env *rep;
    bool is_default;
};

extern "C" const unsigned long threads_leveldb_large_read = 64 * 1024;

namespace {

/// A budget shared by every file: take one unit, or learn that none is left.
class Budget {
  public:
    explicit Budget(long limit) : left_(limit) {}
    bool take() {
        if (left_.fetch_sub(1, std::memory_order_relaxed) > 0) return true;
        left_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    void give() { left_.fetch_add(1, std::memory_order_relaxed); }

  private:
    std::atomic<long> left_;
};

leveldb::Status errorStatus(const std::string &context, int number) {
    if (number == ENOENT) return leveldb::Status::NotFound(context, std::strerror(number));
    return leveldb::Status::IOError(context, std::strerror(number));
}

/// A fifth of the descriptor limit for table files held open, as LevelDB's own environment.
long descriptorLimit() {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 200;
    long fifth = static_cast<long>(limit.rlim_cur / 5);
    return fifth < 1 ? 1 : fifth;
}

class TableFile final : public leveldb::RandomAccessFile {
  public:
    /// `fd` is -1 when the file is opened for each pread; `base` is null when it is not mapped.
    TableFile(std::string name, int fd, Budget *descriptors, const char *base, size_t length, Budget *maps)
        : name_(std::move(name)), fd_(fd), descriptors_(descriptors), base_(base), length_(length), maps_(maps) {}

    ~TableFile() override {
        if (base_ != nullptr) {
            ::munmap(const_cast<char *>(base_), length_);
            maps_->give();
        }
        if (fd_ >= 0) {
            ::close(fd_);
            descriptors_->give();
        }
    }

    leveldb::Status Read(uint64_t offset, size_t n, leveldb::Slice *result, char *scratch) const override {
        if (base_ != nullptr && n < threads_leveldb_large_read) {
            if (offset > length_ || n > length_ - offset) {
                *result = leveldb::Slice();
                return leveldb::Status::IOError(name_, "read past the end of the file");
            }
            *result = leveldb::Slice(base_ + offset, n);
            return leveldb::Status::OK();
        }
        int fd = fd_;
        if (fd < 0) {
            fd = ::open(name_.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                *result = leveldb::Slice();
                return errorStatus(name_, errno);
            }
        }
        size_t done = 0;
        leveldb::Status status;
        while (done < n) {
            ssize_t got = ::pread(fd, scratch + done, n - done, static_cast<off_t>(offset + done));
            if (got < 0) {
                if (errno == EINTR) continue;
                status = errorStatus(name_, errno);
                break;
            }
            if (got == 0) break;  // end of file: the caller checks the length it got
            done += static_cast<size_t>(got);
        }
        if (fd_ < 0) ::close(fd);
        *result = status.ok() ? leveldb::Slice(scratch, done) : leveldb::Slice();
        return status;
    }

  private:
    const std::string name_;
    const int fd_;
    Budget *const descriptors_;
    const char *const base_;
    const size_t length_;
    Budget *const maps_;
};

class ReadEnv final : public leveldb::EnvWrapper {
  public:
    ReadEnv() : EnvWrapper(leveldb::Env::Default()), descriptors_(descriptorLimit()), maps_(1000) {}

    leveldb::Status NewRandomAccessFile(const std::string &name, leveldb::RandomAccessFile **result) override {
        *result = nullptr;
        int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return errorStatus(name, errno);
        struct stat info;
        if (::fstat(fd, &info) != 0) {
            int number = errno;
            ::close(fd);
            return errorStatus(name, number);
        }
        size_t length = static_cast<size_t>(info.st_size);
        const char *base = nullptr;
        if (length > 0 && maps_.take()) {
            void *mapped = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
            if (mapped == MAP_FAILED) {
                maps_.give();
            } else {
                base = static_cast<const char *>(mapped);
            }
        }
        if (!descriptors_.take()) {
            ::close(fd);
            fd = -1;
        }
        *result = new TableFile(name, fd, &descriptors_, base, length, &maps_);
        return leveldb::Status::OK();
    }

  private:
    Budget descriptors_;
    Budget maps_;
};

}  // namespace

/// Whether `leveldb_env_t` above is laid out as the library's: the default environment the C API
/// makes must read back as LevelDB's default Env, marked default.
static bool layoutMatches() {
    leveldb_env_t *probe = leveldb_create_default_env();
    bool matches = probe->rep == leveldb::Env::Default() && probe->is_default;
    leveldb_env_destroy(probe);
    return matches;
}

extern "C" void *threads_leveldb_read_env(void) {
    // Made once and never freed: LevelDB's background thread may use it until the process ends.
    static leveldb_env_t *env = layoutMatches() ? new leveldb_env_t{new ReadEnv(), true} : nullptr;
    return env;
}
