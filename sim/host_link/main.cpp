// SPDX-License-Identifier: MIT
// memhil host link: the Verilator model of the crossbar emulator as a live process that a host
// reaches over a loopback TCP socket (pyserial: serial_for_url("socket://127.0.0.1:PORT")).
//
// Two builds (built by memhil.runtime.sim_link.build_sim):
//   default      top = memhil_top: socket bytes drive s_axis_cmd_* one byte per beat; the byte
//                link has no TLAST, so (like memhil_uart_top's bridge) the last received byte is
//                held and sent with TLAST once the socket has been idle for --idle-us
//                microseconds (0: per received chunk). m_axis_rsp_* bytes go back to the socket.
//                AXI4-Lite is tied off (reachable through WRITE_REG/READ_REG).
//   MEMHIL_UART  top = memhil_uart_top: socket bytes are serialised 8N1 onto uart_rxd at the
//                build's CLK_HZ/BAUD clocks per bit, and uart_txd is deserialised back into
//                bytes: the RTL's own UART bridge (and its idle-gap TLAST) is under test.
//
// The process listens on 127.0.0.1 only, prints one line
//   memhil-sim listening on socket://127.0.0.1:PORT
// and serves one client at a time; the device state survives reconnects (like a board).
// The AXI4-Lite build also listens on a second loopback port (printed after "mmio") for the pynq
// stand-in's MMIO: 7-byte requests 'W' addr16 data32 / 'R' addr16 pad32, 5-byte replies
// resp8 data32, each one real AXI4-Lite transaction on s_axil_*.
// It exits on SIGTERM/SIGINT, when its parent dies (--parent-pid), or after --max-idle-s.
//
// No client can stall the simulation: every socket is non-blocking, MMIO request bytes collect
// in a buffer until a request is complete (a client that sends half a request and waits holds
// up nobody), an AXI4-Lite transaction is clocked by the main loop rather than by a loop of its
// own, and answers that a client does not read yet wait in a buffer of its own. The command
// link's input is read as soon as it arrives (as before: a pause in reading would look like
// the idle gap that ends a packet). Only as a memory guard, a client is not read from while
// kOutCap bytes of answers wait for it or kInCap bytes wait to enter the device; the link then
// does not count as idle.

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "Vtop.h"
#include "verilated.h"

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int) { g_stop = 1; }

static uint64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

struct Options {
  int port = 0;
  int idle_us = 200;
  int parent_pid = 0;
  double max_idle_s = 0.0;  // 0: forever
};

static Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](void) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "memhil-sim: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--port") o.port = std::atoi(next());
    else if (a == "--idle-us") o.idle_us = std::atoi(next());
    else if (a == "--parent-pid") o.parent_pid = std::atoi(next());
    else if (a == "--max-idle-s") o.max_idle_s = std::atof(next());
    else if (a.rfind("+", 0) == 0) continue;  // plusargs for Verilator
    else {
      std::fprintf(stderr, "memhil-sim: unknown argument %s\n", a.c_str());
      std::exit(2);
    }
  }
  return o;
}

class Sim {
 public:
  explicit Sim(VerilatedContext* ctx) : top_(new Vtop{ctx}) {
#ifdef MEMHIL_UART
    top_->uart_rxd = 1;
#else
    top_->s_axil_awaddr = 0; top_->s_axil_awprot = 0; top_->s_axil_awvalid = 0;
    top_->s_axil_wdata = 0;  top_->s_axil_wstrb = 0;  top_->s_axil_wvalid = 0;
    top_->s_axil_bready = 1; top_->s_axil_araddr = 0; top_->s_axil_arprot = 0;
    top_->s_axil_arvalid = 0; top_->s_axil_rready = 1;
    top_->s_axis_cmd_tvalid = 0; top_->s_axis_cmd_tdata = 0; top_->s_axis_cmd_tlast = 0;
    top_->m_axis_rsp_tready = 1;
#endif
    top_->rst_n = 0;
    top_->clk = 0;
    top_->eval();
    for (int i = 0; i < 16; ++i) tick();
    top_->rst_n = 1;
    for (int i = 0; i < 4; ++i) tick();
  }
  ~Sim() { top_->final(); }

#ifndef MEMHIL_UART
  // AXI4-Lite master for the MMIO side channel: one transaction at a time.
  // start_write/start_read, then tick() until axil_done(); result in axil_resp/axil_rdata.
  void start_write(uint16_t addr, uint32_t data) {
    top_->s_axil_awaddr = addr; top_->s_axil_wdata = data; top_->s_axil_wstrb = 0xF;
    top_->s_axil_awvalid = 1; top_->s_axil_wvalid = 1;
    top_->eval();   // awready/wready must reflect the new valids when tick() samples the fires,
    axil_busy_ = true; axil_write_ = true;   // else the access is granted twice (issue 12)
  }
  void start_read(uint16_t addr) {
    top_->s_axil_araddr = addr; top_->s_axil_arvalid = 1;
    top_->eval();   // as in start_write: sample arready for these valids
    axil_busy_ = true; axil_write_ = false;
  }
  // Give up on a transaction that did not complete (valids dropped; a late answer is ignored).
  void axil_abort() {
    top_->s_axil_awvalid = 0; top_->s_axil_wvalid = 0; top_->s_axil_arvalid = 0;
    axil_busy_ = false;
  }
  uint8_t axil_resp = 0;
  uint32_t axil_rdata = 0;
#endif
  bool axil_done() const { return !axil_busy_; }
  uint64_t cycles() const { return cycles_; }
  size_t input_size() const { return in_.size(); }
  // Push a byte (with its TLAST flag) towards the device.
  void push(uint8_t b, bool last) { in_.push_back({b, last}); }
  bool input_empty() const { return in_.empty() && !tx_active_; }
  std::vector<uint8_t>& out() { return out_; }
  bool out_last_seen() { bool s = out_last_; out_last_ = false; return s; }
  bool output_busy() const {
#ifdef MEMHIL_UART
    return rx_active_ || top_->uart_txd == 0;
#else
    return top_->m_axis_rsp_tvalid;
#endif
  }

  // One clock cycle: drive inputs, rising edge, sample outputs.
  void tick() {
    ++cycles_;
#ifdef MEMHIL_UART
    uart_drive();
#else
    if (!top_->s_axis_cmd_tvalid && !in_.empty()) {
      top_->s_axis_cmd_tdata = in_.front().first;
      top_->s_axis_cmd_tlast = in_.front().second;
      top_->s_axis_cmd_tvalid = 1;
      in_.pop_front();
    }
    bool in_fire = top_->s_axis_cmd_tvalid && top_->s_axis_cmd_tready;
    bool out_fire = top_->m_axis_rsp_tvalid && top_->m_axis_rsp_tready;
    uint8_t out_b = top_->m_axis_rsp_tdata;
    bool out_l = top_->m_axis_rsp_tlast;
    bool aw_fire = top_->s_axil_awvalid && top_->s_axil_awready;
    bool w_fire = top_->s_axil_wvalid && top_->s_axil_wready;
    bool b_fire = top_->s_axil_bvalid && top_->s_axil_bready;
    bool ar_fire = top_->s_axil_arvalid && top_->s_axil_arready;
    bool r_fire = top_->s_axil_rvalid && top_->s_axil_rready;
    uint8_t bresp = top_->s_axil_bresp, rresp = top_->s_axil_rresp;
    uint32_t rdata = top_->s_axil_rdata;
#endif
    top_->clk = 1;
    top_->eval();
#ifdef MEMHIL_UART
    uart_sample();
#else
    if (in_fire) top_->s_axis_cmd_tvalid = 0;
    if (in_fire && !in_.empty()) {
      top_->s_axis_cmd_tdata = in_.front().first;
      top_->s_axis_cmd_tlast = in_.front().second;
      top_->s_axis_cmd_tvalid = 1;
      in_.pop_front();
    }
    if (out_fire) {
      out_.push_back(out_b);
      track(out_b);
    }
    (void)out_l;
    if (aw_fire) top_->s_axil_awvalid = 0;
    if (w_fire) top_->s_axil_wvalid = 0;
    if (ar_fire) top_->s_axil_arvalid = 0;
    if (b_fire && axil_busy_ && axil_write_) { axil_resp = bresp; axil_busy_ = false; }
    if (r_fire && axil_busy_ && !axil_write_) {
      axil_resp = rresp; axil_rdata = rdata; axil_busy_ = false;
    }
#endif
    top_->clk = 0;
    top_->eval();
  }

 private:
  std::unique_ptr<Vtop> top_;
  std::deque<std::pair<uint8_t, bool>> in_;
  std::vector<uint8_t> out_;
  bool out_last_ = false;
  bool tx_active_ = false;
  bool axil_busy_ = false, axil_write_ = false;
  uint64_t cycles_ = 0;
  // response framing (contract section 8): 5A SEQ OP STATUS LEN0 LEN1 LEN2 PAYLOAD CRC_LO CRC_HI.
  // Knowing where a response ends tells the main loop that the device has finished a command.
  size_t rsp_pos_ = 0, rsp_total_ = 0, rsp_len_ = 0;
  void track(uint8_t b) {
    if (rsp_pos_ == 0 && b != 0x5A) return;
    if (rsp_pos_ == 4) rsp_len_ = b;
    if (rsp_pos_ == 5) rsp_len_ |= static_cast<size_t>(b) << 8;
    if (rsp_pos_ == 6) rsp_total_ = 7u + (rsp_len_ | (static_cast<size_t>(b) << 16)) + 2u;
    ++rsp_pos_;
    if (rsp_pos_ >= 7 && rsp_pos_ == rsp_total_) {
      out_last_ = true;
      rsp_pos_ = 0;
    }
  }
#ifdef MEMHIL_UART
  // host -> device: 8N1 serialiser on uart_rxd
  int tx_bit_ = 0, tx_cnt_ = 0;
  uint16_t tx_shift_ = 0;
  void uart_drive() {
    if (!tx_active_) {
      if (in_.empty()) { top_->uart_rxd = 1; return; }
      tx_shift_ = static_cast<uint16_t>((1u << 9) | (in_.front().first << 1));  // start 0, data, stop 1
      in_.pop_front();
      tx_active_ = true;
      tx_bit_ = 0;
      tx_cnt_ = 0;
    }
    top_->uart_rxd = (tx_shift_ >> tx_bit_) & 1;
    if (++tx_cnt_ == MEMHIL_CLKS_PER_BIT) {
      tx_cnt_ = 0;
      if (++tx_bit_ == 10) tx_active_ = false;
    }
  }
  // device -> host: 8N1 deserialiser on uart_txd, sampling mid-bit
  bool rx_active_ = false;
  int rx_cnt_ = 0, rx_bit_ = 0;
  uint8_t rx_byte_ = 0;
  void uart_sample() {
    int v = top_->uart_txd;
    if (!rx_active_) {
      if (v == 0) { rx_active_ = true; rx_cnt_ = 0; rx_bit_ = 0; rx_byte_ = 0; }
      return;
    }
    ++rx_cnt_;
    // start bit seen at cnt 0; bit k's middle is at (k + 1) * CPB + CPB / 2
    int mid = (rx_bit_ + 1) * MEMHIL_CLKS_PER_BIT + MEMHIL_CLKS_PER_BIT / 2;
    if (rx_cnt_ == mid) {
      if (rx_bit_ < 8) {
        rx_byte_ |= static_cast<uint8_t>(v << rx_bit_);
        ++rx_bit_;
      } else {  // stop bit
        out_.push_back(rx_byte_);
        track(rx_byte_);
        rx_active_ = false;
      }
    }
  }
#endif
};

static int listen_loopback(int port) {
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // loopback only, never 0.0.0.0
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(ls, 1) != 0) {
    std::fprintf(stderr, "memhil-sim: cannot listen on 127.0.0.1:%d: %s\n", port,
                 std::strerror(errno));
    return -1;
  }
  return ls;
}

static int port_of(int ls) {
  sockaddr_in addr{};
  socklen_t alen = sizeof addr;
  getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &alen);
  return ntohs(addr.sin_port);
}

static void set_nonblocking(int fd) {
  int fl = fcntl(fd, F_GETFL, 0);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

// One client connection (non-blocking): bytes received and not yet used (MMIO requests), and
// bytes for the client that its socket has not taken yet.
struct Client {
  int fd = -1;
  std::vector<uint8_t> rx;
  std::vector<uint8_t> tx;
  size_t tx_off = 0;
  size_t backlog() const { return tx.size() - tx_off; }
  void queue(const uint8_t* p, size_t n) { tx.insert(tx.end(), p, p + n); }
  // Send what the socket takes now. False: the connection failed (close it).
  bool flush() {
    while (tx_off < tx.size()) {
      ssize_t w = send(fd, tx.data() + tx_off, tx.size() - tx_off, MSG_NOSIGNAL);
      if (w > 0) { tx_off += static_cast<size_t>(w); continue; }
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return false;
    }
    if (tx_off == tx.size()) {
      tx.clear();
      tx_off = 0;
    } else if (tx_off >= (1u << 16)) {
      tx.erase(tx.begin(), tx.begin() + static_cast<std::ptrdiff_t>(tx_off));
      tx_off = 0;
    }
    return true;
  }
  void reset() {
    if (fd >= 0) close(fd);
    fd = -1;
    rx.clear();
    tx.clear();
    tx_off = 0;
  }
};

static int accept_client(int ls) {
  int fd = accept(ls, nullptr, nullptr);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  set_nonblocking(fd);
  return fd;
}

// recv on a non-blocking socket: >0 bytes, 0 the peer closed or failed, -1 nothing to read now.
static ssize_t recv_some(int fd, uint8_t* p, size_t n) {
  for (;;) {
    ssize_t r = recv(fd, p, n, 0);
    if (r > 0) return r;
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return -1;
    return 0;
  }
}

int main(int argc, char** argv) {
  Options opt = parse(argc, argv);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);

  auto ctx = std::make_unique<VerilatedContext>();
  ctx->commandArgs(argc, argv);
  Sim sim(ctx.get());

  int ls = listen_loopback(opt.port);
  if (ls < 0) return 1;
  set_nonblocking(ls);
#ifndef MEMHIL_UART
  int mls = listen_loopback(0);   // MMIO side channel (AXI4-Lite), for the pynq stand-in
  if (mls < 0) return 1;
  set_nonblocking(mls);
  std::printf("memhil-sim listening on socket://127.0.0.1:%d mmio socket://127.0.0.1:%d\n",
              port_of(ls), port_of(mls));
#else
  int mls = -1;
  std::printf("memhil-sim listening on socket://127.0.0.1:%d\n", port_of(ls));
#endif
  std::fflush(stdout);
  Client cc;                 // the command/stream client (one at a time)
  Client mc;                 // the MMIO client (one at a time)
  bool held = false;
  uint8_t held_b = 0;
  uint64_t last_rx = now_us();
  uint64_t last_activity = now_us();
  uint64_t quiet = 0;        // cycles without input or output progress
  bool pending = false;      // bytes went in since the device last finished a response
  std::vector<uint8_t> buf(1 << 16);
  const uint64_t kQuietIdle = 256;            // a finished device: this many quiet cycles
  const uint64_t kQuietCap = 20u * 1000 * 1000;  // garbage without an answer: give up spinning
  // memory guards (far above what a client that reads its answers ever reaches): while this
  // much waits for a client or to enter the device, that client's input is not read
  const size_t kOutCap = 64u << 20;
  const size_t kInCap = 64u << 20;
  const short kBad = POLLERR | POLLHUP | POLLNVAL;

  auto close_cmd = [&]() {
    cc.reset();
    if (held) { sim.push(held_b, true); held = false; }
  };
#ifndef MEMHIL_UART
  // MMIO: request 'W' addr16 data32 | 'R' addr16 pad32 (little-endian); reply resp8 data32.
  // One AXI4-Lite transaction at a time, clocked by the main loop; a reply goes to the client
  // (connection number mmio_conn) that sent the request.
  const size_t kReq = 7;
  const size_t kMmioOutCap = 1u << 20;        // replies waiting: stop taking requests
  const uint64_t kAxilGuard = 1000000;        // cycles before a transaction is given up (0xFF)
  bool mmio_busy = false;
  uint64_t mmio_start = 0, mmio_conn = 0, mmio_req_conn = 0;
  auto close_mmio = [&]() { mc.reset(); };
  auto mmio_service = [&]() {
    if (mmio_busy && (sim.axil_done() || sim.cycles() - mmio_start >= kAxilGuard)) {
      bool ok = sim.axil_done();
      if (!ok) sim.axil_abort();
      uint8_t rp[5] = {static_cast<uint8_t>(ok ? sim.axil_resp : 0xFF),
                       static_cast<uint8_t>(sim.axil_rdata),
                       static_cast<uint8_t>(sim.axil_rdata >> 8),
                       static_cast<uint8_t>(sim.axil_rdata >> 16),
                       static_cast<uint8_t>(sim.axil_rdata >> 24)};
      mmio_busy = false;
      if (mc.fd >= 0 && mmio_req_conn == mmio_conn) {
        mc.queue(rp, 5);
        if (!mc.flush()) close_mmio();
      }
      last_activity = now_us();
      quiet = 0;
    }
    if (!mmio_busy && mc.fd >= 0 && mc.rx.size() >= kReq && mc.backlog() < kMmioOutCap) {
      const uint8_t* rq = mc.rx.data();
      uint16_t a = static_cast<uint16_t>(rq[1] | (rq[2] << 8));
      uint32_t v = rq[3] | (rq[4] << 8) | (rq[5] << 16) | (static_cast<uint32_t>(rq[6]) << 24);
      if (rq[0] == 'W') sim.start_write(a, v); else sim.start_read(a);
      mc.rx.erase(mc.rx.begin(), mc.rx.begin() + kReq);
      mmio_busy = true;
      mmio_start = sim.cycles();
      mmio_req_conn = mmio_conn;
    }
  };
#endif

  while (!g_stop) {
    if (opt.parent_pid && getppid() != opt.parent_pid) break;
    bool idle = sim.input_empty() && !sim.output_busy() && sim.axil_done() &&
                ((!pending && quiet >= kQuietIdle) || quiet >= kQuietCap);
    // memory guard: a client whose answers pile up (it does not read them), or whose input
    // the device has not taken yet, is not read from until that clears; meanwhile its link
    // does not count as idle (the held byte does not end a packet)
    bool cmd_full = cc.fd >= 0 && (cc.backlog() >= kOutCap || sim.input_size() >= kInCap);
    if (held && cmd_full) last_rx = now_us();
    // ---- socket work: never blocking on a client; waiting (poll) only when the device is idle
    int timeout_ms = 0;
    if (idle) {
      timeout_ms = 20;
      if (held && !cmd_full) {
        uint64_t due = last_rx + static_cast<uint64_t>(opt.idle_us);
        uint64_t t = now_us();
        timeout_ms = t >= due ? 0 : static_cast<int>((due - t + 999) / 1000);
      }
    }
    pollfd pf[2] = {{ls, POLLIN, 0}, {mls, POLLIN, 0}};
    if (cc.fd >= 0) {
      pf[0].fd = cc.fd;
      pf[0].events = static_cast<short>((cmd_full ? 0 : POLLIN) | (cc.backlog() ? POLLOUT : 0));
    }
#ifndef MEMHIL_UART
    bool mmio_full = mc.fd >= 0 && (mc.rx.size() >= 64 * kReq || mc.backlog() >= kMmioOutCap);
    if (mc.fd >= 0) {
      pf[1].fd = mc.fd;
      pf[1].events = static_cast<short>((mmio_full ? 0 : POLLIN) | (mc.backlog() ? POLLOUT : 0));
    }
#endif
    int npf = mls >= 0 ? 2 : 1;
    if (poll(pf, npf, timeout_ms) > 0) {
      if (cc.fd < 0) {
        if (pf[0].revents & POLLIN) {
          cc.fd = accept_client(ls);
          if (cc.fd >= 0) last_activity = now_us();
        }
      } else {
        if ((pf[0].revents & POLLOUT) && !cc.flush()) close_cmd();
        if (cc.fd >= 0 && (pf[0].revents & (POLLIN | kBad))) {
          ssize_t n = recv_some(cc.fd, buf.data(), buf.size());
          if (n == 0) {
            close_cmd();
          } else if (n > 0) {
            if (held) sim.push(held_b, false);
            if (opt.idle_us > 0) {
              for (ssize_t k = 0; k + 1 < n; ++k) sim.push(buf[k], false);
              held = true;
              held_b = buf[n - 1];
            } else {
              for (ssize_t k = 0; k < n; ++k) sim.push(buf[k], k + 1 == n);
              held = false;
            }
            last_rx = now_us();
            last_activity = last_rx;
            pending = true;
            quiet = 0;
          }
        }
      }
#ifndef MEMHIL_UART
      if (npf == 2 && mc.fd < 0) {
        if (pf[1].revents & POLLIN) {
          mc.fd = accept_client(mls);
          if (mc.fd >= 0) ++mmio_conn;
        }
      } else if (npf == 2) {
        if ((pf[1].revents & POLLOUT) && !mc.flush()) close_mmio();
        if (mc.fd >= 0 && (pf[1].revents & (POLLIN | kBad))) {
          uint8_t tmp[512];
          ssize_t n = recv_some(mc.fd, tmp, sizeof tmp);
          if (n == 0) {
            close_mmio();            // a partial request dies with its connection
          } else if (n > 0) {
            mc.rx.insert(mc.rx.end(), tmp, tmp + n);
          }
        }
        mmio_service();              // a complete request starts its transaction now
      }
#endif
    }
    if (held && now_us() >= last_rx + static_cast<uint64_t>(opt.idle_us)) {
      sim.push(held_b, true);  // the link went idle: this byte ends the packet
      held = false;
      pending = true;
      quiet = 0;
    }
    if (opt.max_idle_s > 0 &&
        now_us() - last_activity > static_cast<uint64_t>(opt.max_idle_s * 1e6)) {
      std::fprintf(stderr, "memhil-sim: idle for %.0f s, exiting\n", opt.max_idle_s);
      break;
    }
    size_t before = sim.out().size();
    if (idle && sim.input_empty() && !held && sim.axil_done()) {
      // nothing to simulate; run a few cycles so a late response can still surface (and be
      // sent below, rather than wait in the output buffer for the next input)
      for (int k = 0; k < 16; ++k) sim.tick();
      if (sim.out().size() == before) continue;
      quiet = 0;
    } else {
      // ---- simulate
      bool in_before = sim.input_empty();
      for (int k = 0; k < 64; ++k) sim.tick();
#ifndef MEMHIL_UART
      mmio_service();
#endif
      bool progressed = sim.out().size() != before || (!in_before);
      quiet = progressed ? 0 : quiet + 64;
    }
    if (sim.out_last_seen()) {
      if (sim.input_empty()) pending = false;
    }
    if (!sim.out().empty()) {
      if (cc.fd >= 0) {
        cc.queue(sim.out().data(), sim.out().size());
        if (!cc.flush()) close_cmd();
        last_activity = now_us();
      }
      sim.out().clear();
    }
  }
  cc.reset();
  mc.reset();
  if (mls >= 0) close(mls);
  close(ls);
  return 0;
}
