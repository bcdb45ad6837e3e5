// A PostgreSQL 15 server of its own for a test: initdb into a temporary
// directory, started on 127.0.0.1 on a free port, with a role `coffre`
// (LOGIN, not a superuser) owning a database `coffre`, reached with a
// password kept in a 0600 passfile. Everything is removed when the object
// dies.
//
//   coffre::testing::PgServer pg;
//   pg.Start();                                    // throws on failure
//   std::string url = pg.url();                    // postgresql://coffre@127.0.0.1:PORT/coffre
//   std::string other = pg.NewDatabase("t1");      // a fresh database owned by coffre
//   pg.Sql("SELECT count(*) FROM coffre_meta");    // as the superuser, rows '\n'-joined
//   pg.Kill9(); pg.StartAgain();                   // a crash, then a restart on the same port
//
// Tests run as root and PostgreSQL refuses to: the server runs as the
// unprivileged `postgres` OS user (initdb and pg_ctl are started under its
// uid); when the test does not run as root, as the test's own user. The
// superuser (`postgres`, used by Sql and Session only) connects through a
// Unix socket in a directory only that user and root can enter; the role
// `coffre` connects over TCP with scram-sha-256. Start() sets PGPASSFILE in
// the process's environment to passfile(), so in-process stores and child
// processes (coffre serve) find the password without the URL holding it.
//
// The server runs with fsync=off: a kill -9 of the server loses nothing
// (the kernel keeps the written pages); only a power loss would, which no
// test simulates.
//
// Thread-safety: Start, Stop, StartAgain and Kill9 belong to the test's
// thread; Sql and Session may be used from any thread (each opens its own
// connection).
#pragma once

#include <memory>
#include <string>

namespace coffre::testing {

class PgServer {
 public:
  PgServer();
  ~PgServer();  // stops the server (immediate mode) and removes its directory
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  // initdb, start, role and database. Throws std::runtime_error (with the
  // server's log tail) on failure.
  void Start();
  // A clean shutdown (pg_ctl stop -m fast); the data stays.
  void Stop();
  // Starts the stopped (or killed) server again on the same port.
  void StartAgain();
  // SIGKILL to the postmaster: its backends exit as they notice; the data
  // directory is left as after a crash (StartAgain recovers it).
  void Kill9();

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  // The libpq URI of database `coffre` as role `coffre`, without password.
  std::string url() const { return UrlFor("coffre"); }
  std::string UrlFor(const std::string& database) const;
  // The 0600 passfile holding role coffre's password.
  std::string passfile() const { return dir_ + "/pgpass"; }
  // Role coffre's password (to write another passfile or service file).
  const std::string& password() const { return password_; }

  // Creates database `name` owned by coffre (letters, digits, underscores)
  // and returns its URL.
  std::string NewDatabase(const std::string& name);

  // Runs `query` (one or more statements) as the superuser in `database`;
  // returns the rows of the last statement, one per line, columns
  // separated by '|', in text format. Throws std::runtime_error on failure.
  std::string Sql(const std::string& query, const std::string& database = "coffre") const;

  // A connection of its own as the superuser, kept open: to hold a lock or
  // a transaction while the test does something else.
  class Session {
   public:
    virtual ~Session() = default;
    // As PgServer::Sql, on this connection (a transaction stays open
    // across calls).
    virtual std::string Sql(const std::string& query) = 0;
    // The backend's process id (pg_backend_pid()).
    virtual int pid() = 0;
  };
  std::unique_ptr<Session> Connect(const std::string& database = "coffre") const;

 private:
  void StartServer();
  std::string SuperuserConninfo(const std::string& database) const;

  std::string dir_;
  std::string password_;
  int port_ = 0;
  bool running_ = false;
};

}  // namespace coffre::testing
