/**
 * pandanet: Panda3D's low-level networking API for Node.js, with socket I/O on worker threads.
 *
 * The only public entry point. Class and method names are Panda3D's Python camelCase names; see
 * `docs/porting-from-panda3d.md` for where TypeScript differs.
 * @module
 */
export {
  Datagram,
  DatagramIterator,
  PyDatagram,
  PyDatagramIterator,
  SubatomicType,
  CONTROL_CHANNEL,
  pythonRound,
  type PutArgValue,
  type GetArgValue,
  type Uint32Uint8Pair,
} from './datagram/index.js';
export * from './datagram/subatomic-type.js';

export { NetAddress, type NetAddressFamily } from './main/net-address.js';
export { NetDatagram } from './main/net-datagram.js';
export { PointerToConnection } from './main/pointer-to-connection.js';
export { Connection, type ConnectionKind, type ConnectionStats } from './main/connection.js';
export { ConnectionManager, QueuedConnectionManager, type WebSocketServerOptions } from './main/connection-manager.js';
export { ConnectionReader, type DatagramVisitor } from './main/connection-reader.js';
export { QueuedConnectionReader } from './main/queued-connection-reader.js';
export { QueuedConnectionListener } from './main/queued-connection-listener.js';
export { ConnectionWriter } from './main/connection-writer.js';
export { RecentConnectionReader } from './main/recent-connection-reader.js';
export { DatagramGeneratorNet, DEFAULT_GENERATOR_TIMEOUT_MS } from './main/datagram-generator-net.js';
export { DatagramSinkNet } from './main/datagram-sink-net.js';
export { MdParticipant, MAX_POST_REMOVE_SIZE, type MdConnectOptions, type MdParticipantLink } from './md/participant.js';
export { NetInterface, InterfaceList, scanInterfaces, buildInterfaces, formatMacAddress, type NetInterfaceInit } from './main/interfaces.js';
export type { ThreadStats, ManagerStats, ReaderStats, WriterStats, ShutdownOptions, ShutdownReport } from './main/runtime.js';
export { DEFAULT_SHUTDOWN_TIMEOUT_MS } from './main/runtime.js';

export {
  TcpFrameDecoder,
  encodeTcpFrame,
  frameHeader,
  validateHeaderSize,
  maxFramePayload,
  MAX_RAW_CHUNK,
  DEFAULT_MAX_DATAGRAM_SIZE,
  type TcpHeaderSize,
  type TcpFrameDecoderOptions,
  type TcpFrameDecoderState,
  type FrameRangeVisitor,
} from './protocol/tcp-framing.js';
export { udpChecksum, encodeUdpPacket, decodeUdpPacket, checkUdpPacket, MAX_UDP_PAYLOAD, UDP_RECEIVE_BUFFER } from './protocol/udp-header.js';

export { MessageDirector, type MessageDirectorOptions, type MdAddress, type MdStats } from './md/message-director.js';
export type { MdNatsOptions } from './md/mesh.js';
export {
  MdMsg,
  MAX_CHANNEL,
  channelKey,
  keyToBigInt,
  readChannelKey,
  writeChannelKey,
  newMdHeader,
  readMdHeader,
  parseMdControl,
  mdControlDatagram,
  type ChannelKey,
  type MdHeader,
  type MdControl,
} from './md/protocol.js';

export { getNetConfig, setNetConfig, resetNetConfig, setNetClock, getNetClock, type NetConfig, type NetConfigPatch, type NetClock } from './config.js';
export type { SocketOptionName } from './protocol/control.js';
export { setLogLevel, getLogLevel, setLogSink, type LogLevel, type LogSink } from './log.js';
export {
  ErrorCode,
  PandaNetError,
  DatagramOverrunError,
  ValueRangeError,
  TooLongError,
  InvalidUtf8Error,
  InvalidArgumentError,
  FrameTooLargeError,
  UdpPacketError,
  MdDatagramError,
  SocketError,
  InternalError,
  MissingDependencyError,
  type ErrorDetails,
} from './errors.js';
