#include "pg_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace coffre::testing {
namespace {

constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnCloser>;
struct ResultClearer {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultClearer>;

// The OS user the server runs as: `postgres` when we are root, else us.
struct RunAs {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

RunAs ServerUser() {
  RunAs who;
  if (::geteuid() != 0) return who;
  const passwd* pw = ::getpwnam("postgres");
  if (pw == nullptr) throw std::runtime_error("PgServer: no `postgres` OS user to run the server");
  who.switch_user = true;
  who.uid = pw->pw_uid;
  who.gid = pw->pw_gid;
  return who;
}

void GiveToServerUser(const std::string& path) {
  RunAs who = ServerUser();
  if (who.switch_user && ::chown(path.c_str(), who.uid, who.gid) != 0) {
    throw std::runtime_error("PgServer: chown failed: " + path);
  }
}

std::string Tail(const std::string& path, size_t max = 4000) {
  std::ifstream in(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s.size() > max ? s.substr(s.size() - max) : s;
}

// Runs a PostgreSQL program as the server's user, without a shell, its
// output appended to `log`, in directory `cwd`. Returns its exit status.
int Run(const std::vector<std::string>& args, const std::string& log, const std::string& cwd) {
  RunAs who = ServerUser();
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) throw std::runtime_error("PgServer: cannot open " + log);
  if (who.switch_user && ::fchown(out, who.uid, who.gid) != 0) {
    ::close(out);
    throw std::runtime_error("PgServer: chown failed: " + log);
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out);
    throw std::runtime_error("PgServer: fork failed");
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    int null_in = ::open("/dev/null", O_RDONLY);
    if (null_in >= 0) ::dup2(null_in, STDIN_FILENO);
    if (who.switch_user) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(who.gid) != 0 || ::setuid(who.uid) != 0) {
        ::_exit(126);
      }
    }
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error("PgServer: waitpid failed");
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("PgServer: socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("PgServer: no free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string RandomHex(size_t bytes) {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned b = rd() & 0xffU;
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xfU]);
  }
  return out;
}

std::string RowsOf(const PGresult* r) {
  std::string out;
  for (int row = 0; row < PQntuples(r); ++row) {
    if (row > 0) out += '\n';
    for (int col = 0; col < PQnfields(r); ++col) {
      if (col > 0) out += '|';
      out += PQgetvalue(r, row, col);
    }
  }
  return out;
}

ConnPtr ConnectOrThrow(const std::string& conninfo) {
  ConnPtr c(PQconnectdb(conninfo.c_str()));
  if (!c || PQstatus(c.get()) != CONNECTION_OK) {
    throw std::runtime_error(std::string("PgServer: cannot connect as superuser: ") +
                             (c ? PQerrorMessage(c.get()) : "out of memory"));
  }
  return c;
}

std::string ExecOrThrow(PGconn* c, const std::string& query) {
  ResultPtr r(PQexec(c, query.c_str()));
  ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    throw std::runtime_error("PgServer: SQL failed: " + query + ": " + PQerrorMessage(c));
  }
  return RowsOf(r.get());
}

class SessionImpl final : public PgServer::Session {
 public:
  explicit SessionImpl(ConnPtr c) : c_(std::move(c)) {}
  std::string Sql(const std::string& query) override { return ExecOrThrow(c_.get(), query); }
  int pid() override { return PQbackendPID(c_.get()); }

 private:
  ConnPtr c_;
};

}  // namespace

PgServer::PgServer() = default;

PgServer::~PgServer() {
  if (running_) {
    (void)Run(
        {std::string(kBinDir) + "/pg_ctl", "stop", "-D", dir_ + "/data", "-m", "immediate", "-w"},
        dir_ + "/pg_ctl.log", dir_);
  }
  if (!dir_.empty() && std::getenv("COFFRE_KEEP_TEST_DIRS") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

void PgServer::Start() {
  // Under /tmp whatever TMPDIR says: the server's user must reach it.
  std::string tmpl = "/tmp/coffre-pg-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("PgServer: mkdtemp failed");
  dir_ = tmpl;
  ::chmod(dir_.c_str(), 0711);  // the server's user passes through, reads nothing
  for (const char* sub : {"/data", "/sock"}) {
    std::string p = dir_ + sub;
    if (::mkdir(p.c_str(), 0700) != 0) throw std::runtime_error("PgServer: mkdir " + p);
    GiveToServerUser(p);
  }
  const std::string log = dir_ + "/initdb.log";
  int rc = Run(
      {std::string(kBinDir) + "/initdb", "-D", dir_ + "/data", "-U", "postgres",
       "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"},
      log, dir_);
  if (rc != 0) throw std::runtime_error("PgServer: initdb failed:\n" + Tail(log));
  // Only the superuser over the socket (its directory is 0700), everyone
  // else over TCP with a password.
  {
    std::ofstream hba(dir_ + "/data/pg_hba.conf", std::ios::trunc);
    hba << "local all postgres trust\n"
        << "host all all 127.0.0.1/32 scram-sha-256\n";
  }
  GiveToServerUser(dir_ + "/data/pg_hba.conf");
  for (int attempt = 0;; ++attempt) {
    port_ = FreePort();
    try {
      StartServer();
      break;
    } catch (const std::runtime_error&) {
      if (attempt >= 2) throw;  // a port taken between choosing and binding: try another
    }
  }
  password_ = RandomHex(16);
  Sql("CREATE ROLE coffre LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '" + password_ + "'",
      "postgres");
  Sql("CREATE DATABASE coffre OWNER coffre", "postgres");
  {
    int fd = ::open(passfile().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("PgServer: cannot write the passfile");
    std::string line = "*:*:*:coffre:" + password_ + "\n";
    bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::close(fd);
    if (!ok) throw std::runtime_error("PgServer: cannot write the passfile");
  }
  ::setenv("PGPASSFILE", passfile().c_str(), 1);
}

void PgServer::StartServer() {
  const std::string log = dir_ + "/server.log";
  {
    // pg_ctl opens the server's log as the server's user.
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("PgServer: cannot create " + log);
    ::close(fd);
    GiveToServerUser(log);
  }
  const std::string opts = "-p " + std::to_string(port_) + " -k " + dir_ +
                           "/sock -c listen_addresses=127.0.0.1 -c fsync=off"
                           " -c full_page_writes=off -c max_connections=100";
  int rc = Run({std::string(kBinDir) + "/pg_ctl", "start", "-D", dir_ + "/data", "-w", "-t", "60",
                "-l", log, "-o", opts},
               dir_ + "/pg_ctl.log", dir_);
  if (rc != 0) {
    throw std::runtime_error("PgServer: pg_ctl start failed:\n" + Tail(dir_ + "/pg_ctl.log") +
                             "\n" + Tail(log));
  }
  running_ = true;
}

void PgServer::Stop() {
  int rc = Run({std::string(kBinDir) + "/pg_ctl", "stop", "-D", dir_ + "/data", "-m", "fast", "-w"},
               dir_ + "/pg_ctl.log", dir_);
  if (rc != 0)
    throw std::runtime_error("PgServer: pg_ctl stop failed:\n" + Tail(dir_ + "/pg_ctl.log"));
  running_ = false;
}

void PgServer::StartAgain() {
  // After a kill -9 the old backends may hold the shared memory for a
  // moment (they exit when they notice the postmaster is gone).
  for (int attempt = 0;; ++attempt) {
    try {
      StartServer();
      return;
    } catch (const std::runtime_error&) {
      if (attempt >= 20) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
}

void PgServer::Kill9() {
  std::ifstream pidfile(dir_ + "/data/postmaster.pid");
  long pid = 0;
  if (!(pidfile >> pid) || pid <= 0) throw std::runtime_error("PgServer: no postmaster.pid");
  if (::kill(static_cast<pid_t>(pid), SIGKILL) != 0)
    throw std::runtime_error("PgServer: kill failed");
  // Wait until it is gone (it is not our child: poll).
  for (int i = 0; i < 500 && ::kill(static_cast<pid_t>(pid), 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  running_ = false;
}

std::string PgServer::UrlFor(const std::string& database) const {
  return "postgresql://coffre@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

std::string PgServer::NewDatabase(const std::string& name) {
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) {
      throw std::runtime_error("PgServer: bad database name");
    }
  }
  Sql("CREATE DATABASE " + name + " OWNER coffre", "postgres");
  return UrlFor(name);
}

std::string PgServer::SuperuserConninfo(const std::string& database) const {
  return "host=" + dir_ + "/sock port=" + std::to_string(port_) +
         " user=postgres connect_timeout=10 dbname=" + database;
}

std::string PgServer::Sql(const std::string& query, const std::string& database) const {
  ConnPtr c = ConnectOrThrow(SuperuserConninfo(database));
  return ExecOrThrow(c.get(), query);
}

std::unique_ptr<PgServer::Session> PgServer::Connect(const std::string& database) const {
  return std::make_unique<SessionImpl>(ConnectOrThrow(SuperuserConninfo(database)));
}

}  // namespace coffre::testing
