"""The top-level component: the ports of ABI §1 around the engine."""

from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from . import registers as regs
from .bus.signatures import AXI4LiteSignature, AXI4Signature, AXIStreamSignature, \
    WishboneSignature
from .config import Config
from .csr.axil import AXI4LiteCsrSlave
from .csr.regfile import RegisterBlock, RegisterFile
from .csr.wishbone import WishboneCsrSlave
from .engine.arbiter import RoundRobinArbiter
from .engine.channel import Channel
from .engine.datapath import burst_arbiter, bus_adapter, data_mover
from .engine.descriptors import DescriptorUnit, FetchPlan
from .engine.planner import STREAM_MAX_BEATS
from .engine.portmux import ReadPortArbiter, WritePortArbiter
from .engine.streams import StreamEgress, StreamIngress
from .registers import ErrorCode


__all__ = ["DMAController"]


class DMAController(wiring.Component):
    """The Hauler DMA controller.

    Parameters
    ----------
    config : Config
        What to build; see :class:`~hauler.Config`.

    Members
    -------
    s_axil or s_wb : In(...)
        The register port (``config.csr``).
    m_axi or m_wb : Out(...)
        The memory master (``config.master``).
    irq : Out(1)
        High while any channel has ``IRQ_STATUS & IRQ_ENABLE`` non-zero.
    m_axis0, s_axis0, m_axis1, ... : Out / In(AXIStreamSignature)
        Each channel's memory-to-stream output and stream-to-memory input
        (``config.streams``).
    req : In(channels); ack : Out(channels)
        The peripheral request/acknowledge handshake, a bit per channel (``config.req_ack``).
    """

    def __init__(self, config=None):
        if config is None:
            config = Config()
        if not isinstance(config, Config):
            raise TypeError(f"config must be a hauler.Config, not {config!r}")
        self.config = config
        members = {}
        if config.csr == "axil":
            members["s_axil"] = In(AXI4LiteSignature(addr_width=regs.CSR_ADDR_WIDTH))
        else:
            members["s_wb"] = In(WishboneSignature(addr_width=regs.CSR_ADDR_WIDTH - 2,
                                                   data_width=32, pipelined=False))
        if config.master == "axi4":
            members["m_axi"] = Out(AXI4Signature(addr_width=config.addr_width,
                                                 data_width=config.data_width))
        else:
            members["m_wb"] = Out(WishboneSignature(
                addr_width=config.addr_width - config.beat_shift,
                data_width=config.data_width, pipelined=True))
        members["irq"] = Out(1)
        if config.streams:
            for n in range(config.channels):
                stream = AXIStreamSignature(data_width=config.data_width)
                members[f"m_axis{n}"] = Out(stream)
                members[f"s_axis{n}"] = In(stream)
        if config.req_ack:
            members["req"] = In(config.channels)
            members["ack"] = Out(config.channels)
        super().__init__(members)

    def _global_values(self):
        cfg = self.config
        major, minor, patch = regs.VERSION
        return {
            ("ID", "VALUE"): regs.ID_VALUE,
            ("VERSION", "MAJOR"): major, ("VERSION", "MINOR"): minor,
            ("VERSION", "PATCH"): patch,
            ("CONFIG", "CHANNELS"): cfg.channels,
            ("CONFIG", "DATA_BYTES_LOG2"): cfg.beat_shift,
            ("CONFIG", "ADDR_WIDTH"): cfg.addr_width,
            ("CONFIG", "SG"): int(cfg.sg),
            ("CONFIG", "UNALIGNED"): int(cfg.unaligned),
            ("CONFIG", "STREAMS"): int(cfg.streams),
            ("CONFIG", "REQ_ACK"): int(cfg.req_ack),
            ("CONFIG", "MASTER"): 0 if cfg.master == "axi4" else 1,
            ("PARAMS", "MAX_BURST"): cfg.max_burst,
            ("PARAMS", "FIFO_DEPTH_LOG2"): cfg.fifo_depth.bit_length() - 1,
            ("PARAMS", "OUTSTANDING"): cfg.outstanding,
            ("PARAMS", "LEN_WIDTH"): cfg.len_width,
        }

    def _absent_channel_registers(self):
        """Registers of what this build leaves out: they read 0 and ignore writes."""
        absent = set() if self.config.req_ack else {"REQ_BURST"}
        if not self.config.sg:
            absent |= {"DESC_LO", "DESC_HI"}
        if self.config.addr_width == 32:
            # Address bits beyond the address width are not implemented.
            absent |= {"SRC_HI", "DST_HI", "DESC_HI", "ERR_ADDR_HI"}
        return absent

    def _descriptor_unit(self, m, mover, adapter):
        """Scatter-gather: the descriptor unit shares the master with the data mover."""
        cfg = self.config
        m.submodules.descriptors = unit = DescriptorUnit(
            addr_width=cfg.addr_width, data_width=cfg.data_width, channels=cfg.channels)
        # In flight: the mover's bursts (its queues hold `outstanding` + 1) and the unit's
        # (the bursts of a fetch; a write-back is one).
        ports = dict(addr_width=cfg.addr_width, data_width=cfg.data_width, ports=2)
        fetch_bursts = len(FetchPlan(cfg.data_width).bursts)
        m.submodules.read_mux = read_mux = ReadPortArbiter(
            **ports, outstanding=cfg.outstanding + 1 + fetch_bursts)
        m.submodules.write_mux = write_mux = WritePortArbiter(
            **ports, outstanding=cfg.outstanding + 2)
        for mux, kind in ((read_mux, "read"), (write_mux, "write")):
            wiring.connect(m, getattr(unit, kind), mux.in0)
            wiring.connect(m, getattr(mover, kind), mux.in1)
            wiring.connect(m, mux.out, getattr(adapter, kind))

        # The channels' write-back requests, round-robin, one at a time. Not registered: a
        # request waits in its channel's register anyway, and goes out in the cycle it is
        # made. (The unit arbitrates fetches itself, see DescriptorUnit.)
        request = unit.writeback
        item = data.StructLayout({name: field.shape for name, field in request.payload.shape()
                                  if name != "channel"})
        m.submodules.writeback_arbiter = arbiter = RoundRobinArbiter(
            item, channels=cfg.channels, field="request", registered=False)
        m.d.comb += [
            request.valid.eq(arbiter.out.valid),
            request.payload.channel.eq(arbiter.out.payload.channel),
            arbiter.out.ready.eq(request.ready),
        ]
        for name, _ in item:
            m.d.comb += request.payload[name].eq(arbiter.out.payload.request[name])
        return unit

    @staticmethod
    def _connect_descriptor_traffic(m, n, channel, unit):
        """The unit's events, to the channel they belong to."""
        m.d.comb += [
            channel.fetched_valid.eq(unit.fetched.ours[n]),
            channel.fetched.eq(unit.fetched.beat),
            channel.fetched.ctrl_in.eq(unit.fetched.ctrl_in[n]),
            channel.fetched.ends.eq(unit.fetched.ends[n]),
            channel.fetched.ends_owned.eq(unit.fetched.ends_owned[n]),
            # A fetch request is a pulse, always taken; its address is held meanwhile.
            unit.fetch_now[n].eq(channel.fetch_now),
            unit.fetch_addr[n].eq(channel.fetch_addr),
            channel.written_valid.eq(unit.written.done[n]),
            # Qualified: the channel's write-back failed (so a flip-flop of its own).
            channel.written_err.eq(unit.written.failed[n]),
        ]

    def _stream_buffers(self, m, channels, mover, arbiter):
        """Each channel's stream ports, through buffers of two bursts (engine/streams.py)."""
        cfg = self.config
        # Bursts from and to streams are at most this long (planner.STREAM_MAX_BEATS); a
        # buffered FIFO of 2^k + 1 keeps 2^k in memory, so its pointers wrap for free.
        # The ingress needs two bursts: one filling while the other is moved. The egress
        # takes four: room is reserved before a burst is read, so what it holds ahead is
        # what covers the memory's read latency (three bursts' worth of cycles).
        burst = min(cfg.max_burst, STREAM_MAX_BEATS)
        for n, channel in enumerate(channels):
            ingress = StreamIngress(data_width=cfg.data_width, depth=2 * burst + 1)
            egress = StreamEgress(data_width=cfg.data_width, depth=4 * burst + 1,
                                  burst_limit=burst)
            m.submodules[f"ch{n}_stream_in"] = ingress
            m.submodules[f"ch{n}_stream_out"] = egress
            wiring.connect(m, wiring.flipped(getattr(self, f"s_axis{n}")), ingress.s_axis)
            wiring.connect(m, egress.m_axis, wiring.flipped(getattr(self, f"m_axis{n}")))
            wiring.connect(m, ingress.beats, mover.ingress[n])
            planner, bursts = channel.planner, channel.planner.bursts
            # A burst to a stream is offered only while its output buffer has room for it
            # (the mover reserves it as it takes the burst): the planner judges that.
            wiring.connect(m, bursts, getattr(arbiter, f"ch{n}"))
            m.d.comb += [
                planner.room.eq(egress.room), planner.reserved.eq(mover.egress_reserved[n]),
                ingress.enable.eq(channel.stream_in_enable),
                planner.avail.eq(ingress.avail), planner.packet_end.eq(ingress.packet_end),
                planner.end_lane.eq(ingress.end_lane),
                ingress.claim_valid.eq(bursts.valid & bursts.ready & bursts.payload.src_stream),
                ingress.claim_beats.eq(bursts.payload.reads),
                mover.egress_room[n].eq(egress.room),
                egress.reserve_valid.eq(mover.egress_reserve[n]),
                egress.reserve_beats.eq(mover.egress_reserve_beats),
                egress.cancel_valid.eq(mover.egress_cancel[n]),
                egress.cancel_beats.eq(mover.egress_cancel_beats),
                egress.push_valid.eq(mover.egress_push[n]),
                egress.push_data.eq(mover.egress_data), egress.push_strb.eq(mover.egress_strb),
                egress.push_last.eq(mover.egress_last),
                egress.flush.eq(channel.stream_out_flush),
            ]

    def elaborate(self, platform):
        m = Module()
        cfg = self.config

        # --- Register port and register file.
        if cfg.csr == "axil":
            m.submodules.csr_port = csr_port = AXI4LiteCsrSlave(addr_width=regs.CSR_ADDR_WIDTH)
            wiring.connect(m, wiring.flipped(self.s_axil), csr_port.axil)
        else:
            m.submodules.csr_port = csr_port = WishboneCsrSlave(
                addr_width=regs.CSR_ADDR_WIDTH - 2)
            wiring.connect(m, wiring.flipped(self.s_wb), csr_port.wb)

        global_regs = RegisterBlock(regs.GLOBAL_REGISTERS, name="global")
        m.submodules.global_regs = global_regs
        for key, value in self._global_values().items():
            m.d.comb += global_regs[key].eq(value)
        blocks = {0: global_regs}
        channel_regs = []
        for n in range(cfg.channels):
            block = RegisterBlock(regs.CHANNEL_REGISTERS, name=f"ch{n}",
                                  resets={"beat_bytes": cfg.beat_bytes},
                                  absent=self._absent_channel_registers())
            m.submodules[f"ch{n}_regs"] = block
            blocks[n + 1] = block
            channel_regs.append(block)
        m.submodules.regfile = RegisterFile(csr_port.csr, blocks)

        # --- Engine: channels -> arbiter -> mover -> bus adapter.
        m.submodules.arbiter = arbiter = burst_arbiter(cfg)
        m.submodules.mover = mover = data_mover(cfg)
        wiring.connect(m, arbiter.out, mover.bursts)
        m.submodules.adapter = adapter = bus_adapter(cfg)
        if cfg.master == "axi4":
            wiring.connect(m, adapter.axi, wiring.flipped(self.m_axi))
        else:
            wiring.connect(m, adapter.wb, wiring.flipped(self.m_wb))
        if cfg.sg:
            unit = self._descriptor_unit(m, mover, adapter)
        else:
            wiring.connect(m, mover.read, adapter.read)
            wiring.connect(m, mover.write, adapter.write)

        channels = []
        for n, block in enumerate(channel_regs):
            channel = Channel(cfg, block)
            m.submodules[f"ch{n}"] = channel
            channels.append(channel)
            if not cfg.streams:         # (with streams, see _stream_buffers)
                wiring.connect(m, channel.planner.bursts, getattr(arbiter, f"ch{n}"))
            ours = lambda event: event.valid & (event.channel == n)
            read_fault, write_fault = ours(mover.read_fault), ours(mover.write_fault)
            if cfg.sg:
                self._connect_descriptor_traffic(m, n, channel, unit)
            m.d.comb += [
                channel.retire_valid.eq(ours(mover.retire)),
                channel.retire_bytes.eq(mover.retire.bytes),
                channel.retire_end.eq(mover.retire.end),
                channel.retire_eop.eq(mover.retire.eop if cfg.streams else 0),
                # A read and a write fault of one channel in the same cycle: the read's
                # is the earlier failure of the transfer.
                channel.fault_valid.eq(read_fault | write_fault),
                channel.fault_code.eq(
                    Mux(read_fault, ErrorCode.READ_ERROR, ErrorCode.WRITE_ERROR)),
                channel.fault_addr.eq(Mux(read_fault, mover.read_fault.addr,
                                                mover.write_fault.addr)),
            ]
        m.d.comb += mover.discard.eq(Cat(c.discard for c in channels))
        if cfg.streams:
            self._stream_buffers(m, channels, mover, arbiter)
        if cfg.req_ack:
            for n, channel in enumerate(channels):
                m.d.comb += [channel.req.eq(self.req[n]), self.ack[n].eq(channel.ack)]

        if cfg.sg:
            arbiter = m.submodules.writeback_arbiter
            for n, channel in enumerate(channels):
                wiring.connect(m, channel.writeback, getattr(arbiter, f"ch{n}"))

        irqs = Cat(c.irq for c in channels)
        m.d.comb += [global_regs["IRQ_SUMMARY", "VALUE"].eq(irqs), self.irq.eq(irqs.any())]
        return m
