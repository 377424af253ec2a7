// SPDX-License-Identifier: GPL-3.0-or-later
// gst_rtsp_peer: the fan-out benchmark's reference server. gst-rtsp-server serving one shared media at /main that
// loops an H.264 Annex-B clip at real time (h264parse stamps each access unit from the clip's frame rate, the
// sinks pace to the pipeline clock), RTP payload type 96, on a loopback port, without authentication.
// Prints "listening on HOST:PORT" once it accepts connections; SIGTERM or SIGINT end it.
#include <glib-unix.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "gst_rtsp_peer: %s\nusage: gst_rtsp_peer --clip FILE.h264 [--port P (0: any)] [--fps 25] "
               "[--address 127.0.0.1]\n",
               why);
  std::exit(2);
}

// h264parse stamps a raw byte stream with decoding times only; rtph264pay takes the RTP timestamp from the
// presentation time. The clip has no B-frames, so presentation time = decoding time.
GstPadProbeReturn stamp_pts(GstPad*, GstPadProbeInfo* info, gpointer) {
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  if (buf && !GST_BUFFER_PTS_IS_VALID(buf) && GST_BUFFER_DTS_IS_VALID(buf)) {
    buf = gst_buffer_make_writable(buf);
    GST_BUFFER_PTS(buf) = GST_BUFFER_DTS(buf);
    GST_PAD_PROBE_INFO_DATA(info) = buf;
  }
  return GST_PAD_PROBE_OK;
}

void on_media_configure(GstRTSPMediaFactory*, GstRTSPMedia* media, gpointer) {
  GstElement* bin = gst_rtsp_media_get_element(media);
  if (GstElement* parse = gst_bin_get_by_name_recurse_up(GST_BIN(bin), "parse")) {
    GstPad* pad = gst_element_get_static_pad(parse, "src");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, stamp_pts, nullptr, nullptr);
    gst_object_unref(pad);
    gst_object_unref(parse);
  }
  gst_object_unref(bin);
}

gboolean quit(gpointer loop) {
  g_main_loop_quit(static_cast<GMainLoop*>(loop));
  return G_SOURCE_REMOVE;
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  std::string clip, address = "127.0.0.1";
  int port = 0, fps = 25;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    const char* v = argv[++i];
    auto integer = [&](int lo, int hi) {
      int n = 0;
      if (std::from_chars(v, v + std::strlen(v), n).ec != std::errc{} || n < lo || n > hi) {
        usage((a + ": expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi)).c_str());
      }
      return n;
    };
    if (a == "--clip") clip = v;
    else if (a == "--port") port = integer(0, 65535);
    else if (a == "--fps") fps = integer(1, 240);
    else if (a == "--address") address = v;
    else usage(("unknown option " + a).c_str());
  }
  if (clip.empty()) usage("--clip is required");
  if (clip.find_first_of("\"\\") != std::string::npos) usage("--clip: the path may not contain quotes or backslashes");
  if (FILE* f = std::fopen(clip.c_str(), "rb")) {
    std::fclose(f);
  } else {
    usage(("--clip: cannot open " + clip + ": " + std::strerror(errno)).c_str());
  }

  // multifilesrc with loop=true rereads the file as one continuous byte stream, so h264parse's timestamps keep
  // growing across the loop and every reader sees one endless stream.
  const std::string launch = "( multifilesrc location=\"" + clip +
                             "\" loop=true caps=\"video/x-h264,stream-format=byte-stream,framerate=" +
                             std::to_string(fps) +
                             "/1\" ! h264parse name=parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )";

  GstRTSPServer* server = gst_rtsp_server_new();
  gst_rtsp_server_set_address(server, address.c_str());
  gst_rtsp_server_set_service(server, std::to_string(port).c_str());
  gst_rtsp_server_set_backlog(server, 4096);
  GstRTSPMountPoints* mounts = gst_rtsp_server_get_mount_points(server);
  GstRTSPMediaFactory* factory = gst_rtsp_media_factory_new();
  gst_rtsp_media_factory_set_launch(factory, launch.c_str());
  gst_rtsp_media_factory_set_shared(factory, TRUE);
  g_signal_connect(factory, "media-configure", G_CALLBACK(on_media_configure), nullptr);
  gst_rtsp_mount_points_add_factory(mounts, "/main", factory);  // takes the factory
  g_object_unref(mounts);

  if (gst_rtsp_server_attach(server, nullptr) == 0) {
    std::fprintf(stderr, "gst_rtsp_peer: cannot listen on %s:%d\n", address.c_str(), port);
    return 1;
  }
  std::printf("listening on %s:%d\n", address.c_str(), gst_rtsp_server_get_bound_port(server));
  std::fflush(stdout);

  GMainLoop* loop = g_main_loop_new(nullptr, FALSE);
  g_unix_signal_add(SIGTERM, quit, loop);
  g_unix_signal_add(SIGINT, quit, loop);
  g_main_loop_run(loop);
  g_main_loop_unref(loop);
  g_object_unref(server);
  return 0;
}
