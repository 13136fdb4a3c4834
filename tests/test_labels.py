"""Labels a user brings, in each format, read from files built here from drawn shapes; and every malformed file
refused in one line that names the file, the entry and the problem."""
import json

import numpy as np
import pytest
from PIL import Image

from core.errors import UserError
from tests.shapes import CLASSES, MASK_CLASSES, draw_mask, draw_scenes, one_shape, scene
from truth.labels import load_labels


def class_folders(root, names=("square", "disc"), per_class=3):
    for cls, name in enumerate(names):
        for i in range(per_class):
            one_shape(root / name / f"{i}.png", cls % 2, i)
    return root


def coco(tmp_path, count=4, crowd=0, **changes):
    """A COCO instances JSON of drawn scenes; category ids 7 (square) and 3 (disc) so id order != class order."""
    pictures = draw_scenes(tmp_path / "images", count)
    ids = {0: 7, 1: 3}
    data = {"images": [{"id": i + 10, "file_name": f"images/{p.name}", "width": 96, "height": 64}
                       for i, p in enumerate(pictures)],
            "annotations": [], "categories": [{"id": 3, "name": "disc"}, {"id": 7, "name": "square"}]}
    for i in range(count):
        for cls, (x1, y1, x2, y2) in scene(i):
            data["annotations"].append({"id": len(data["annotations"]) + 1, "image_id": i + 10, "iscrowd": 0,
                                        "category_id": ids[cls], "bbox": [x1, y1, x2 - x1, y2 - y1]})
    for k in range(crowd):
        data["annotations"].append({"id": 100 + k, "image_id": 10, "category_id": 7, "bbox": [0, 0, 5, 5],
                                    "iscrowd": 1})
    data.update(changes)
    file = tmp_path / "instances.json"
    file.write_text(json.dumps(data))
    return file, data


def masks(tmp_path, count=3):
    pictures = draw_scenes(tmp_path / "images", count)
    for i, picture in enumerate(pictures):
        draw_mask(tmp_path / "masks" / f"{picture.stem}.png", scene(i))
    return tmp_path / "masks", tmp_path / "images"


def test_class_folders_sorted_names_or_the_models_classes(tmp_path):
    root = class_folders(tmp_path / "set")
    alone = load_labels(str(root), "classes")
    assert alone.classes == ("disc", "square")  # sorted folder names
    assert [(s.image.split("/")[-2], s.label) for s in alone.samples][::3] == [("disc", 0), ("square", 1)]
    given = load_labels(str(root), "classes", classes=list(CLASSES))
    assert given.classes == CLASSES
    assert {s.image.split("/")[-2]: s.label for s in given.samples} == {"square": 0, "disc": 1}
    assert len(given) == 6 and given.details["class order"] == "the model's class names"


def test_numeric_class_folders_take_the_models_order(tmp_path):
    root = class_folders(tmp_path / "set", names=("0", "90", "180", "270"), per_class=1)
    assert load_labels(str(root), "classes").classes == ("0", "180", "270", "90")
    given = load_labels(str(root), "classes", classes=["0", "90", "180", "270"])
    assert {s.image.split("/")[-2]: s.label for s in given.samples} == {"0": 0, "90": 1, "180": 2, "270": 3}


@pytest.mark.parametrize("header", ["image,label\n", ""])
def test_csv_labels_by_name_or_index_with_or_without_header(tmp_path, header):
    for i in range(4):
        one_shape(tmp_path / "pics" / f"{i}.png", i % 2, i)
    by_name = tmp_path / "names.csv"
    by_name.write_text(header + "".join(f"pics/{i}.png, {CLASSES[i % 2]}\n" for i in range(4)))
    loaded = load_labels(str(by_name), "classes", classes=list(CLASSES))
    assert [s.label for s in loaded.samples] == [0, 1, 0, 1]
    by_index = tmp_path / "indices.csv"
    by_index.write_text(header + "".join(f"{i}.png,{i % 2}\n\n" for i in range(4)))  # blank lines skipped
    assert [s.label for s in load_labels(str(by_index), "classes", list(CLASSES), str(tmp_path / "pics")).samples] \
        == [0, 1, 0, 1]
    alone = load_labels(str(by_name), "classes")  # names without the model's: sorted
    assert alone.classes == ("disc", "square") and [s.label for s in alone.samples] == [1, 0, 1, 0]


def test_coco_boxes_become_xyxy_class_indices_and_crowds_stay_out(tmp_path):
    file, _ = coco(tmp_path, crowd=2)
    loaded = load_labels(str(file), "boxes", classes=list(CLASSES))
    first = loaded.samples[0]
    assert first.boxes == tuple(tuple(float(v) for v in box) for _, box in scene(0))
    assert first.box_labels == (0, 1)
    assert loaded.details["crowd annotations left out"] == 2 and loaded.details["boxes"] == 8
    by_id = load_labels(str(file), "boxes")  # categories sorted by id: 3 disc, 7 square
    assert by_id.classes == ("disc", "square") and by_id.samples[0].box_labels == (1, 0)


def test_coco_file_names_relative_to_the_images_folder(tmp_path):
    file, data = coco(tmp_path)
    for entry in data["images"]:
        entry["file_name"] = entry["file_name"].removeprefix("images/")
    moved = tmp_path / "annotations" / "val.json"
    moved.parent.mkdir()
    moved.write_text(json.dumps(data))
    loaded = load_labels(str(moved), "boxes", list(CLASSES), images=str(tmp_path / "images"))
    assert loaded.samples[3].image == str(tmp_path / "images" / "scene03.png")
    assert "relative to" in refused(str(moved), "boxes", list(CLASSES))  # the JSON's own folder has no images


def test_masks_one_per_image(tmp_path):
    folder, pictures = masks(tmp_path)
    loaded = load_labels(str(folder), "masks", classes=list(MASK_CLASSES), images=str(pictures))
    assert len(loaded) == 3 and loaded.samples[1].mask.endswith("scene01.png")
    assert loaded.samples[1].image.endswith("images/scene01.png") and loaded.details["classes in the masks"] == 3


def test_texts_keep_their_spaces_and_commas(tmp_path):
    one_shape(tmp_path / "a.png", 0)
    one_shape(tmp_path / "b.png", 1)
    file = tmp_path / "texts.csv"
    file.write_text('image,text\na.png,hello world\nb.png,"12,5 kg "\n')
    assert [s.text for s in load_labels(str(file), "texts").samples] == ["hello world", "12,5 kg "]


def refused(*args, **kwargs) -> str:
    with pytest.raises(UserError) as caught:
        load_labels(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_csv_problems_refused_in_one_line(tmp_path):
    for i in range(2):
        one_shape(tmp_path / f"{i}.png", i)
    file = tmp_path / "labels.csv"

    def csv_says(text, *args):
        file.write_text(text)
        return refused(str(file), *args)

    assert "does not exist" in refused(str(tmp_path / "nope.csv"), "classes")
    assert "line 2: class 'dgo' is unknown; allowed: one of the model's class names (square, disc) or an index" \
        in csv_says("0.png,square\n1.png,dgo\n", "classes", list(CLASSES))
    assert "line 1: class index 2 is out of range" in csv_says("0.png,2\n", "classes", list(CLASSES))
    assert "line 2: image" in csv_says("0.png,0\nmissing.png,1\n", "classes") and "does not exist" in csv_says(
        "0.png,0\nmissing.png,1\n", "classes")
    assert "line 2: 3 columns; allowed: 2 (image,label)" in csv_says("0.png,0\n1.png,1,x\n", "classes")
    assert "line 3: image" in csv_says("0.png,0\n1.png,1\n0.png,1\n", "classes")
    assert "already labelled at line 1" in csv_says("0.png,0\n1.png,1\n0.png,1\n", "classes")
    assert "hold no labelled image" in csv_says("image,label\n", "classes")
    assert "mixes with the class indices" in csv_says("0.png,0\n1.png,disc\n", "classes")
    assert "line 1: class '1' is unknown" in csv_says("0.png,1\n", "classes", ["0", "90", "180", "270"])
    assert "every text is empty" in csv_says('0.png,""\n', "texts")
    file.write_bytes(b"0.png,\xff\xfe\n")
    assert "not UTF-8" in refused(str(file), "texts")
    assert str(file) in refused(str(file), "texts")
    assert "labels kind 'points' is unknown; allowed: classes, boxes, masks, texts" in refused(str(file), "points")


def test_class_folder_problems_refused_in_one_line(tmp_path):
    root = class_folders(tmp_path / "set", names=("square", "disc", "triangle"), per_class=1)
    assert "folder 'triangle' is not one of the model's classes; allowed: square, disc" in refused(
        str(root), "classes", list(CLASSES))
    one_shape(root / "loose.png", 0)
    assert "image 'loose.png' is outside a class folder" in refused(str(root), "classes")
    (root / "loose.png").unlink()
    (tmp_path / "empty").mkdir()
    assert "no class sub-folder" in refused(str(tmp_path / "empty"), "classes")
    (tmp_path / "bare" / "square").mkdir(parents=True)
    assert "hold no labelled image" in refused(str(tmp_path / "bare"), "classes")
    (root / "disc" / "broken.png").write_text("not a picture")
    assert "broken.png' is not an image Pillow can read" in refused(str(root), "classes")


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["annotations"][1].update(bbox=[5, 5, -3, 4]), "annotations[1]: bbox=[5, 5, -3, 4] has a negative"),
    (lambda d: d["annotations"][0].update(bbox=[5, 5, 4]), "annotations[0]: bbox=[5, 5, 4]; allowed: [x, y, w"),
    (lambda d: d["annotations"][2].update(image_id=99), "annotations[2]: image_id 99 is not in images"),
    (lambda d: d["annotations"][2].update(category_id=5), "annotations[2]: category_id 5 is not in categories"),
    (lambda d: d["annotations"][3].pop("bbox"), "annotations[3]: key 'bbox' is missing"),
    (lambda d: d["images"][1].update(file_name="gone.png"), "images[1]: image"),
    (lambda d: d["images"][1].update(width=640), "images[1]: width x height 640x64 in the JSON, but"),
    (lambda d: d["images"][1].update(id=10), "images[1]: id 10 is already used by images[0]"),
    (lambda d: d["images"][1].update(file_name=d["images"][0]["file_name"], id=50), "images[1]: image"),
    (lambda d: d["images"][0].update(id="ten"), "images[0]: id='ten' is not an int"),
    (lambda d: d["categories"][0].update(name="zebra"), "category 3 'zebra' is not one of the model's classes"),
    (lambda d: d["categories"].append({"id": 7, "name": "x"}), "categories[2]: id 7 is already used by 'square'"),
    (lambda d: d.pop("annotations"), "not COCO: key 'annotations' is missing"),
    (lambda d: d.update(images={}), "not COCO: key 'images' is a dict, not a list"),
    (lambda d: d.update(images=[], annotations=[]), "hold no labelled image"),
    (lambda d: d.update(annotations=[]), "no box to find"),
])
def test_coco_problems_refused_in_one_line(tmp_path, change, expected):
    file, data = coco(tmp_path)
    change(data)
    file.write_text(json.dumps(data))
    message = refused(str(file), "boxes", list(CLASSES))
    assert expected in message and str(file) in message


def test_not_json_or_not_an_object(tmp_path):
    file = tmp_path / "instances.json"
    file.write_text('{"images": [}')
    assert "not JSON (Expecting value at line 1 column 13)" in refused(str(file), "boxes")
    file.write_text("[1, 2]")
    assert "not COCO: the JSON is a list, not an object" in refused(str(file), "boxes")


def test_mask_problems_refused_in_one_line(tmp_path):
    folder, pictures = masks(tmp_path)
    args = (str(folder), "masks", list(MASK_CLASSES), str(pictures))
    Image.new("L", (48, 32)).save(folder / "scene01.png")
    assert "scene01.png: 48x32, but its image 'scene01.png' is 96x64; allowed: the image's own size" in refused(*args)
    Image.new("RGB", (96, 64)).save(folder / "scene01.png")
    assert "scene01.png: mode RGB (several channels); allowed: one channel" in refused(*args)
    Image.fromarray(np.full((64, 96), 7, np.uint8)).save(folder / "scene01.png")
    assert "scene01.png: class index 7 is out of range; allowed: 0..2 and 255 (ignore)" in refused(*args)
    (folder / "scene01.png").unlink()
    assert "no mask scene01.png for image 'scene01.png'" in refused(*args)
    draw_mask(folder / "scene01.png", scene(1))
    draw_mask(folder / "extra.png", scene(1))
    assert "extra.png: mask of no image in" in refused(*args)
    assert "masks need input.images" in refused(str(folder), "masks")
