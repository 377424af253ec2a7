// SPDX-License-Identifier: GPL-3.0-or-later
#include "analytics/person.hpp"

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <system_error>

namespace freehold::analytics {
namespace {

constexpr float kNmsOverlap = 0.45f;
constexpr std::size_t kMaxCrops = 4;  // the biggest moving regions; more would only cost time

Box normalised(const cv::Rect2d& r, double width, double height) {
  const double x0 = std::clamp(r.x / width, 0.0, 1.0), y0 = std::clamp(r.y / height, 0.0, 1.0);
  const double x1 = std::clamp((r.x + r.width) / width, 0.0, 1.0), y1 = std::clamp((r.y + r.height) / height, 0.0, 1.0);
  return {static_cast<float>(x0), static_cast<float>(y0), static_cast<float>(x1 - x0), static_cast<float>(y1 - y0)};
}

bool overlaps(const Box& a, const Box& b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

// Non-maximum suppression over detections of the whole picture; the strongest first.
std::vector<Detection> suppress(const std::vector<cv::Rect2d>& boxes, const std::vector<float>& scores, float min_score,
                                double width, double height) {
  std::vector<cv::Rect2d> rects(boxes.begin(), boxes.end());
  std::vector<int> keep;
  cv::dnn::NMSBoxes(rects, scores, min_score, kNmsOverlap, keep);
  std::vector<Detection> out;
  for (int i : keep)
    out.push_back(
        {"person", scores[static_cast<std::size_t>(i)], normalised(rects[static_cast<std::size_t>(i)], width, height)});
  std::sort(out.begin(), out.end(), [](const Detection& a, const Detection& b) { return a.confidence > b.confidence; });
  return out;
}

// OpenCV's HOG + linear SVM people detector (Dalal and Triggs), trained on upright pedestrians in 64x128 windows.
class HogDetector final : public PersonDetector {
 public:
  explicit HogDetector(const PersonOptions& o) : options_(o) {
    hog_.setSVMDetector(cv::HOGDescriptor::getDefaultPeopleDetector());
  }

  std::vector<Detection> detect(const hal::Picture& picture, const std::vector<Box>& regions) override {
    if (picture.format != hal::PixelFormat::i420 || picture.width < 64 || picture.height < 128) return {};
    const cv::Mat luma(picture.height, picture.width, CV_8UC1, const_cast<std::uint8_t*>(picture.y()));
    std::vector<cv::Rect2d> found;
    std::vector<float> scores;
    for (const cv::Rect& crop : crops(picture.width, picture.height, regions)) {
      // A crop around a moving region is scaled so that a person filling it is 256 pixels tall at most, and one
      // half its height still covers the 128-pixel window: small crops are enlarged, big ones reduced (the cost
      // grows with the area). The whole picture (no regions) is searched as it is: people of 128 pixels and more.
      const double scale = regions.empty() ? 1.0 : std::clamp(256.0 / crop.height, 0.5, 2.0);
      cv::Mat view = luma(crop), scaled;
      if (std::abs(scale - 1.0) > 0.01) {
        cv::resize(view, scaled, cv::Size(), scale, scale, scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
      } else {
        scaled = view;
      }
      if (scaled.cols < 64 || scaled.rows < 128) continue;
      std::vector<cv::Rect> rects;
      std::vector<double> weights;
      hog_.detectMultiScale(scaled, rects, weights, 0, cv::Size(8, 8), cv::Size(), 1.1, 2);
      for (std::size_t i = 0; i < rects.size(); ++i) {
        // The window holds the person with a margin around: keep the middle, as the detector's authors do.
        const cv::Rect& r = rects[i];
        found.emplace_back(crop.x + (r.x + 0.1 * r.width) / scale, crop.y + (r.y + 0.07 * r.height) / scale,
                           0.8 * r.width / scale, 0.8 * r.height / scale);
        // The SVM margin (0 at the decision boundary) as 0.5..1: min_confidence 0.5 keeps all HOG accepts.
        const double w = i < weights.size() ? weights[i] : 0.0;
        scores.push_back(static_cast<float>(1.0 / (1.0 + std::exp(-2.0 * w))));
      }
    }
    return suppress(found, scores, options_.min_confidence, picture.width, picture.height);
  }

 private:
  // The regions grown by a quarter on each side (motion often covers only the moving limbs), at least the
  // detection window's shape, merged where they overlap; the whole picture when there are none.
  static std::vector<cv::Rect> crops(int width, int height, const std::vector<Box>& regions) {
    const cv::Rect all(0, 0, width, height);
    if (regions.empty()) return {all};
    std::vector<cv::Rect> out;
    for (const Box& b : regions) {
      double x = b.x * width, y = b.y * height, w = b.w * width, h = b.h * height;
      x -= w / 4;
      y -= h / 4;
      w *= 1.5;
      h *= 1.5;
      const double min_w = 96, min_h = 192;
      if (w < min_w) {
        x -= (min_w - w) / 2;
        w = min_w;
      }
      if (h < min_h) {
        y -= (min_h - h) / 2;
        h = min_h;
      }
      out.push_back(cv::Rect(cv::Point(static_cast<int>(x), static_cast<int>(y)),
                             cv::Point(static_cast<int>(x + w), static_cast<int>(y + h))) &
                    all);
    }
    for (bool merged = true; merged;) {
      merged = false;
      for (std::size_t i = 0; i < out.size() && !merged; ++i) {
        for (std::size_t j = i + 1; j < out.size() && !merged; ++j) {
          if ((out[i] & out[j]).area() > 0) {
            out[i] |= out[j];
            out.erase(out.begin() + static_cast<std::ptrdiff_t>(j));
            merged = true;
          }
        }
      }
    }
    std::sort(out.begin(), out.end(), [](const cv::Rect& a, const cv::Rect& b) { return a.area() > b.area(); });
    if (out.size() > kMaxCrops) out.resize(kMaxCrops);
    return out;
  }

  PersonOptions options_;
  cv::HOGDescriptor hog_;
};

// A network from an ONNX file, with one of two common output layouts:
// - SSD: [1, 1, N, 7] rows of (image, class, confidence, x1, y1, x2, y2), corners as fractions of the picture;
// - YOLOv8: [1, 4 + C, N] (or [1, N, 4 + C]): centre x, centre y, width, height in input pixels, then C class
//   scores.
class OnnxDetector final : public PersonDetector {
 public:
  enum class Layout { ssd, yolo };

  static std::unique_ptr<PersonDetector> load(const PersonOptions& o, std::string* error) {
    std::error_code ec;
    if (o.model_path.empty()) {
      *error = "person.detector is onnx but person.model names no file";
      return nullptr;
    }
    if (!std::filesystem::is_regular_file(o.model_path, ec)) {
      *error = "person.model " + o.model_path + ": no such file";
      return nullptr;
    }
    auto d = std::unique_ptr<OnnxDetector>(new OnnxDetector(o));
    try {
      d->net_ = cv::dnn::readNetFromONNX(o.model_path);
      if (d->net_.empty()) throw std::runtime_error("the file holds no network");
      d->net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
      d->net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
      // One run on a grey picture tells the output layout, so that a model we cannot read fails now, not later.
      const cv::Mat grey(o.input_size, o.input_size, CV_8UC3, cv::Scalar(114, 114, 114));
      const cv::Mat out = d->forward(grey);
      if (auto problem = d->learn_layout(out)) {
        *error = "person.model " + o.model_path + ": " + *problem;
        return nullptr;
      }
    } catch (const cv::Exception& e) {
      *error = "person.model " + o.model_path +
               " is not a usable ONNX model: " + first_line(e.err.empty() ? e.what() : e.err);
      return nullptr;
    } catch (const std::exception& e) {
      *error = "person.model " + o.model_path + " is not a usable ONNX model: " + first_line(e.what());
      return nullptr;
    }
    return d;
  }

  std::vector<Detection> detect(const hal::Picture& picture, const std::vector<Box>& regions) override {
    if (picture.format != hal::PixelFormat::i420 || picture.width < 2 || picture.height < 2) return {};
    const cv::Mat yuv(picture.height * 3 / 2, picture.width, CV_8UC1, const_cast<std::uint8_t*>(picture.data.data()));
    cv::Mat bgr;
    cv::cvtColor(yuv, bgr, cv::COLOR_YUV2BGR_I420);
    cv::Mat out;
    try {
      out = forward(bgr);
    } catch (const cv::Exception&) {
      return {};
    }
    std::vector<cv::Rect2d> boxes;
    std::vector<float> scores;
    const double w = picture.width, h = picture.height;
    const float* p = out.ptr<float>();
    if (layout_ == Layout::ssd) {
      for (int i = 0; i < count_; ++i) {
        const float* row = p + static_cast<std::ptrdiff_t>(i) * 7;
        if (static_cast<int>(row[1]) != person_class_ || !(row[2] >= options_.min_confidence)) continue;
        boxes.emplace_back(row[3] * w, row[4] * h, (row[5] - row[3]) * w, (row[6] - row[4]) * h);
        scores.push_back(std::min(1.0f, row[2]));
      }
    } else {
      const double sx = w / options_.input_size, sy = h / options_.input_size;
      auto at = [&](int field, int i) {
        return transposed_ ? p[static_cast<std::ptrdiff_t>(i) * fields_ + field]
                           : p[static_cast<std::ptrdiff_t>(field) * count_ + i];
      };
      for (int i = 0; i < count_; ++i) {
        const float score = at(4 + person_class_, i);
        if (!(score >= options_.min_confidence)) continue;
        const float cx = at(0, i), cy = at(1, i), bw = at(2, i), bh = at(3, i);
        boxes.emplace_back((cx - bw / 2) * sx, (cy - bh / 2) * sy, bw * sx, bh * sy);
        scores.push_back(std::min(1.0f, score));
      }
    }
    std::vector<Detection> people = suppress(boxes, scores, options_.min_confidence, w, h);
    if (!regions.empty()) {
      std::erase_if(people, [&](const Detection& d) {
        return std::none_of(regions.begin(), regions.end(), [&](const Box& r) { return overlaps(d.box, r); });
      });
    }
    return people;
  }

 private:
  explicit OnnxDetector(const PersonOptions& o) : options_(o) {}

  static std::string first_line(const std::string& s) {
    const auto nl = s.find('\n');
    return s.substr(0, std::min<std::size_t>(nl, 300));
  }

  cv::Mat forward(const cv::Mat& bgr) {
    const cv::Mat blob = cv::dnn::blobFromImage(bgr, 1.0 / 255.0, cv::Size(options_.input_size, options_.input_size),
                                                cv::Scalar(), true, false, CV_32F);
    net_.setInput(blob);
    cv::Mat out = net_.forward();
    if (out.type() != CV_32F) out.convertTo(out, CV_32F);
    return out.isContinuous() ? out : out.clone();
  }

  std::optional<std::string> learn_layout(const cv::Mat& out) {
    std::string shape = "[";
    for (int i = 0; i < out.dims; ++i) shape += (i ? ", " : "") + std::to_string(out.size[i]);
    shape += "]";
    if (out.dims == 4 && out.size[0] == 1 && out.size[1] == 1 && out.size[3] == 7) {
      layout_ = Layout::ssd;
      count_ = out.size[2];
      person_class_ = options_.person_class >= 0 ? options_.person_class : 1;  // SSD MobileNet COCO: 1
      return std::nullopt;
    }
    if (out.dims == 3 && out.size[0] == 1 && std::max(out.size[1], out.size[2]) >= 5 &&
        std::min(out.size[1], out.size[2]) >= 1) {
      layout_ = Layout::yolo;
      transposed_ = out.size[1] > out.size[2];  // [1, N, 4 + C]: a model has more boxes than fields
      fields_ = transposed_ ? out.size[2] : out.size[1];
      count_ = transposed_ ? out.size[1] : out.size[2];
      person_class_ = options_.person_class >= 0 ? options_.person_class : 0;  // YOLOv8 COCO: 0
      if (4 + person_class_ >= fields_) {
        return "output " + shape + " has " + std::to_string(fields_ - 4) + " classes, no class " +
               std::to_string(person_class_);
      }
      return std::nullopt;
    }
    return "output shape " + shape + " is neither SSD [1, 1, N, 7] nor YOLOv8 [1, 4 + classes, N]";
  }

  PersonOptions options_;
  cv::dnn::Net net_;
  Layout layout_ = Layout::ssd;
  bool transposed_ = false;
  int fields_ = 0, count_ = 0, person_class_ = 0;
};

}  // namespace

std::unique_ptr<PersonDetector> make_person_detector(const PersonOptions& options, std::string* error) {
  if (options.detector == "hog") return std::make_unique<HogDetector>(options);
  if (options.detector == "onnx") return OnnxDetector::load(options, error);
  *error = "unknown person detector \"" + options.detector + "\" (hog or onnx)";
  return nullptr;
}

}  // namespace freehold::analytics
