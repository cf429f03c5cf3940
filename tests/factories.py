"""factory_boy factories for the web side's models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from pydicom.uid import generate_uid

from webapp.accounts.models import Membership, Role
from webapp.imaging.models import Instance, Patient, Series, Study
from webapp.labeling.models import Project, Task

PASSWORD = "test-password-123"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(PASSWORD)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"proj-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    auto_preannotate = False


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)
    role = Role.ANNOTATOR


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    project = factory.SubFactory(ProjectFactory)
    patient_id = factory.Sequence(lambda n: f"PAT{n:05d}")
    name = factory.Sequence(lambda n: f"Doe^Jane{n}")


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study

    patient = factory.SubFactory(PatientFactory)
    project = factory.LazyAttribute(lambda o: o.patient.project)
    study_instance_uid = factory.LazyFunction(lambda: generate_uid())
    study_date = factory.Faker("date_between", start_date="-5y", end_date="today")
    accession_number = factory.Sequence(lambda n: f"ACC{n:06d}")
    description = "CT CHEST"
    modalities = "CT"
    num_series = 1


class SeriesFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Series

    study = factory.SubFactory(StudyFactory)
    series_instance_uid = factory.LazyFunction(lambda: generate_uid())
    modality = "CT"
    series_number = 1
    description = "Axial 1.25mm"
    rows = 64
    columns = 64


class InstanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Instance
        skip_postgeneration_save = True

    series = factory.SubFactory(SeriesFactory)
    sop_instance_uid = factory.LazyFunction(lambda: generate_uid())
    sop_class_uid = "1.2.840.10008.5.1.4.1.1.2"
    transfer_syntax_uid = "1.2.840.10008.1.2.1"
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    storage_key = factory.LazyAttribute(lambda o: f"instances/{o.sha256[:2]}/{o.sha256}")
    size = 1000
    instance_number = factory.Sequence(lambda n: n)
    slice_position = factory.Sequence(lambda n: float(n))
    rows = 8
    columns = 8

    @factory.post_generation
    def stored_file(self: Instance, create: bool, extracted: object, **kwargs: object) -> None:
        """A real tiny DICOM file at `storage_key`, so WADO and pixel readers work on factory rows."""
        if create and extracted is not False:
            write_factory_dicom(self)


def write_factory_dicom(inst: Instance) -> None:
    import io

    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    from webapp.core.storage import get_storage

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = inst.sop_class_uid
    ds.file_meta.MediaStorageSOPInstanceUID = inst.sop_instance_uid
    ds.SOPClassUID, ds.SOPInstanceUID = inst.sop_class_uid, inst.sop_instance_uid
    ds.StudyInstanceUID = inst.series.study.study_instance_uid
    ds.SeriesInstanceUID = inst.series.series_instance_uid
    ds.Modality = inst.series.modality
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 8, 8, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PixelData = np.arange(64, dtype="<i2").tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    get_storage().write_atomic(inst.storage_key, buf.getvalue())


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    series = factory.SubFactory(SeriesFactory)
    project = factory.LazyAttribute(lambda o: o.series.study.project)


def make_revision(*, task: Task, author: object = None, shape: tuple[int, int, int] = (2, 8, 8)) -> object:
    """A stored label revision (all zeros) that is the task's head, with one empty finding."""
    import numpy as np

    from webapp.core.storage import put_content_addressed
    from webapp.labeling.codec import ENCODING, encode
    from webapp.labeling.models import Finding, LabelRevision

    blob = encode(np.zeros(shape, dtype=np.uint8))
    key, digest = put_content_addressed("labels", blob)
    rev = LabelRevision.objects.create(task=task, author=author, storage_key=key, encoding=ENCODING,
                                       shape=list(shape), sha256=digest, size=len(blob))
    Finding.objects.create(task=task, revision=rev, segment=1, label_class="nodule")
    task.head_revision = rev
    task.save(update_fields=["head_revision"])
    return rev
