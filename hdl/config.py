"""One configuration of the controller: what `hauler generate` and `DMAController` are built from."""

from dataclasses import dataclass, fields, asdict


__all__ = ["Config"]


MASTERS = ("axi4", "wishbone")
CSR_PORTS = ("axil", "wishbone")
DATA_WIDTHS = (32, 64, 128)
ADDR_WIDTHS = (32, 64)


def _is_pow2(value):
    return value > 0 and value & (value - 1) == 0


@dataclass(frozen=True)
class Config:
    """Build parameters of a :class:`~hauler.DMAController`.

    Parameters
    ----------
    channels : int
        Number of independent channels, 1..16.
    data_width : int
        Width of the memory master (and streams) in bits: 32, 64 or 128.
    addr_width : int
        Width of bus addresses in bits: 32 or 64.
    master : str
        Memory master bus: ``"axi4"`` or ``"wishbone"`` (B4 pipelined).
    csr : str
        Register port: ``"axil"`` (AXI4-Lite) or ``"wishbone"`` (B4 classic).
    max_burst : int
        Most beats in one burst, 1..256.
    outstanding : int
        Most read bursts in flight at once, 1..255.
    fifo_depth : int
        Beats of buffering between reader and writer: a power of two, at least ``max_burst``.
    sg : bool
        Build scatter-gather (descriptor chains in memory, ABI §3).
    unaligned : bool
        Build the realigner: byte-granular addresses and lengths (CONFIG[22]). Without it,
        both addresses and the length must be multiples of the beat size.
    streams : bool or None
        Build the AXI-Stream ports of each channel (ABI §4, CONFIG[21]): ``m_axis<n>``
        (memory to stream) and ``s_axis<n>`` (stream to memory). They need the realigner,
        which packs the partial beats of packets: by default (None) streams are built when
        ``unaligned`` is.
    req_ack : bool
        Build the peripheral request/acknowledge handshake (ABI §5, CONFIG[23]): the ``req``
        and ``ack`` ports, REQ_BURST, and XFER.REQ.

    Raises
    ------
    TypeError, ValueError
        With a message naming the parameter and the allowed values.
    """

    channels: int = 2
    data_width: int = 32
    addr_width: int = 32
    master: str = "axi4"
    csr: str = "axil"
    max_burst: int = 16
    outstanding: int = 8
    fifo_depth: int = 128
    sg: bool = True
    unaligned: bool = True
    streams: bool = None
    req_ack: bool = True

    #: Width of LEN / BYTES (ABI: 32-bit registers; PARAMS[31:24] reports it).
    len_width = 32

    def __post_init__(self):
        if self.streams is None:
            object.__setattr__(self, "streams", self.unaligned)
        for f in fields(self):
            value = getattr(self, f.name)
            expected = {"master": str, "csr": str, "sg": bool, "unaligned": bool,
                        "streams": bool, "req_ack": bool}.get(f.name, int)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise TypeError(f"{f.name} must be {expected.__name__}, not {value!r}")
        if self.streams and not self.unaligned:
            raise ValueError("streams=True needs unaligned=True: the realigner packs the "
                             "partial beats of packets (or pass streams=False)")
        if not 1 <= self.channels <= 16:
            raise ValueError(f"channels must be 1..16, not {self.channels}")
        if self.data_width not in DATA_WIDTHS:
            raise ValueError(f"data_width must be one of 32, 64, 128, not {self.data_width}")
        if self.addr_width not in ADDR_WIDTHS:
            raise ValueError(f"addr_width must be 32 or 64, not {self.addr_width}")
        if self.master not in MASTERS:
            raise ValueError(f"master must be 'axi4' or 'wishbone', not {self.master!r}")
        if self.csr not in CSR_PORTS:
            raise ValueError(f"csr must be 'axil' or 'wishbone', not {self.csr!r}")
        if not 1 <= self.max_burst <= 256:
            raise ValueError(f"max_burst must be 1..256, not {self.max_burst}")
        if not 1 <= self.outstanding <= 255:
            raise ValueError(f"outstanding must be 1..255, not {self.outstanding}")
        if not _is_pow2(self.fifo_depth) or not 2 <= self.fifo_depth <= 2 ** 15:
            raise ValueError(f"fifo_depth must be a power of two 2..32768, not {self.fifo_depth}")
        if self.fifo_depth < self.max_burst:
            raise ValueError(f"fifo_depth ({self.fifo_depth}) must hold one whole burst: "
                             f"at least max_burst ({self.max_burst})")

    @property
    def beat_bytes(self):
        return self.data_width // 8

    @property
    def beat_shift(self):
        """log2 of the bytes in one data beat."""
        return self.beat_bytes.bit_length() - 1

    def key(self):
        """A short name unique to this configuration, for build directories and caches."""
        return (f"ch{self.channels}_d{self.data_width}_a{self.addr_width}_{self.master}_{self.csr}"
                f"_b{self.max_burst}_o{self.outstanding}_f{self.fifo_depth}" +
                ("" if self.sg else "_nosg") + ("" if self.unaligned else "_noua") +
                ("" if self.streams else "_nost") + ("" if self.req_ack else "_noreq"))

    def as_dict(self):
        return asdict(self)
